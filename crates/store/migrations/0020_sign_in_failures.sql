-- Failed web UI sign-ins, by account (`login:<key>`) and by client address (`client:<ip>`): the
-- limit every replica applies. Rows older than the window go as new ones come.
CREATE TABLE sign_in_failures (
    subject  TEXT   NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_subject ON sign_in_failures(subject, at);
-- What a new failure forgets: every row older than the window.
CREATE INDEX sign_in_failures_at ON sign_in_failures(at);
