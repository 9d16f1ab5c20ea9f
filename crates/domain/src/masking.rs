//! Masking secret values in output that is kept (the creation log, `postCreateCommand`'s
//! output), as GitHub Actions masks them: every value, every line of a multi-line value (a PEM
//! key printed line by line), and the base64 forms of each (standard and URL-safe, padded or
//! not), each replaced by `***`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Shorter pieces are not masked: they would hide ordinary text and protect nothing.
const SHORTEST: usize = 4;

/// The strings to hide, longest first (so a value is masked whole before any of its lines).
#[derive(Clone, Default)]
pub struct Masker {
    hidden: Vec<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masker({} strings)", self.hidden.len())
    }
}

impl Masker {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut hidden = Vec::new();
        for value in values {
            let mut pieces = vec![value.to_owned()];
            pieces.extend(
                value
                    .lines()
                    .map(str::trim)
                    .filter(|l| *l != value)
                    .map(str::to_owned),
            );
            for piece in pieces.clone() {
                for engine in [STANDARD, URL_SAFE] {
                    pieces.push(engine.encode(&piece));
                }
                for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                    pieces.push(engine.encode(&piece));
                }
            }
            hidden.extend(pieces.into_iter().filter(|p| p.len() >= SHORTEST));
        }
        hidden.sort_by_key(|h| std::cmp::Reverse(h.len()));
        hidden.dedup();
        Self { hidden }
    }

    /// `text` with every hidden string replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        self.hidden
            .iter()
            .fold(text.to_owned(), |t, h| t.replace(h.as_str(), "***"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_their_lines_and_their_base64_are_masked() {
        let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----";
        let m = Masker::new(["hunter22", pem, "ab"]);
        let b64 = STANDARD.encode("hunter22");
        let table = [
            ("password=hunter22", "password=***"),
            ("MIIEvQIBADANBgkqhkiG9w0B", "***"),
            ("  AQEFAASCBKcwggSjAgEAAoIB  ", "  ***  "),
            (&*format!("token: {b64}"), "token: ***"),
            (
                &*format!("u: {}", URL_SAFE_NO_PAD.encode("hunter22")),
                "u: ***",
            ),
            ("ab is too short to hide", "ab is too short to hide"),
            ("nothing secret", "nothing secret"),
        ];
        for (line, want) in table {
            assert_eq!(m.mask(line), want, "{line}");
        }
        assert_eq!(m.mask(pem), "***", "the whole value first");
    }
}
