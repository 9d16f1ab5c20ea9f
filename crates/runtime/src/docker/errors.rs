//! The Engine's errors as messages a user can act on: the causes spelled out, variable values
//! blanked, and the API version an older daemon asks for read from its refusal.

use super::*;

/// `1.41` as numbers.
pub(super) fn parse_api_version(v: &str) -> Option<(usize, usize)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The version an Engine that refused ours offers ("… Maximum supported API version is 1.41").
pub(super) fn max_api_version(message: &str) -> Option<(usize, usize)> {
    let (_, rest) = message.split_once("Maximum supported API version is ")?;
    parse_api_version(rest.split_whitespace().next()?)
}

pub(super) fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// What failed, the Engine's answer, and what to do when the Engine could not be reached.
pub(super) fn engine_message(what: &str, e: DockerError) -> String {
    let transport = matches!(
        e,
        DockerError::HyperLegacyError { .. }
            | DockerError::IOError { .. }
            | DockerError::RequestTimeoutError
            | DockerError::SocketNotFoundError(_)
    );
    let message = match e {
        DockerError::DockerResponseServerError { message, .. } => message,
        DockerError::DockerStreamError { error } => error,
        other => with_causes(&other),
    };
    if transport {
        format!("docker could not {what}: {message}; {HINT}")
    } else {
        format!("docker could not {what}: {message}")
    }
}

/// An error and its causes ("client error (Connect): Connection refused (os error 111)").
pub(super) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

pub(super) fn engine(what: &str, e: DockerError) -> RuntimeError {
    RuntimeError::Engine(engine_message(what, e))
}

/// `message` with the variables' values blanked out.
pub(super) fn redact(message: &str, env: &[(String, SecretString)]) -> String {
    let mut out = message.to_owned();
    for (_, v) in env {
        let v = v.expose_secret();
        if !v.is_empty() {
            out = out.replace(v, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_api_versions_name_the_one_to_speak() {
        let refused = "client version 1.53 is too new. Maximum supported API version is 1.41";
        assert_eq!(max_api_version(refused), Some((1, 41)));
        assert_eq!(max_api_version("page not found"), None);
        assert_eq!(parse_api_version("1.51"), Some((1, 51)));
        assert_eq!(parse_api_version("one"), None);
    }

    #[test]
    fn redaction_blanks_values() {
        let env = vec![("A".to_owned(), SecretString::from("hunter2".to_owned()))];
        assert_eq!(redact("bad env A=hunter2", &env), "bad env A=***");
    }
}
