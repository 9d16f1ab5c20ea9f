//! Development environments ("codespaces", SPEC §5) as values: their state words, their names,
//! and the environment variables their processes get.

use std::fmt;

/// GitHub's codespace state words. Berth uses this subset:
/// `Queued → Provisioning → Starting → Available ⇄ (ShuttingDown →) Shutdown → Deleted`, and
/// `Failed` (with a reason kept beside it) from any step of a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodespaceState {
    Queued,
    Provisioning,
    Starting,
    Available,
    ShuttingDown,
    Shutdown,
    Failed,
    Deleted,
}

impl CodespaceState {
    pub const ALL: [CodespaceState; 8] = [
        Self::Queued,
        Self::Provisioning,
        Self::Starting,
        Self::Available,
        Self::ShuttingDown,
        Self::Shutdown,
        Self::Failed,
        Self::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "Queued",
            Self::Provisioning => "Provisioning",
            Self::Starting => "Starting",
            Self::Available => "Available",
            Self::ShuttingDown => "ShuttingDown",
            Self::Shutdown => "Shutdown",
            Self::Failed => "Failed",
            Self::Deleted => "Deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Work is under way: nothing else may be asked of the environment until it settles.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            Self::Queued | Self::Provisioning | Self::Starting | Self::ShuttingDown
        )
    }

    /// A start may be asked for.
    pub fn can_start(self) -> bool {
        matches!(self, Self::Shutdown | Self::Failed)
    }

    /// A stop may be asked for (stopping a failed start tidies what it left running).
    pub fn can_stop(self) -> bool {
        matches!(self, Self::Available | Self::Failed)
    }
}

impl fmt::Display for CodespaceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An environment's name: `<login>-<repo>-<suffix>`, lower-case, at most 60 characters, made of
/// `[a-z0-9-]` so it is also a valid container name and path component. `suffix` is the caller's
/// randomness (the domain has none), cut to characters that may appear.
pub fn codespace_name(login: &str, repo: &str, suffix: &str) -> String {
    let clean = |s: &str| -> String {
        let mapped: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        mapped
            .split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    };
    let suffix = clean(suffix);
    let mut stem = format!("{}-{}", clean(login), clean(repo));
    let room = 60usize.saturating_sub(suffix.len() + 1);
    stem.truncate(room);
    let stem = stem.trim_end_matches('-');
    format!("{stem}-{suffix}")
}

/// The facts Berth itself puts into every environment's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinVariables<'a> {
    pub codespace_name: &'a str,
    /// `owner/name`.
    pub repository: &'a str,
    pub user: &'a str,
    /// Berth's URL as users reach it (`GITHUB_SERVER_URL`); the API is under `/api/v3`.
    pub server_url: &'a str,
}

impl BuiltinVariables<'_> {
    /// The Codespaces-compatible variables, without the token ones (`BERTH_TOKEN` and
    /// `GITHUB_TOKEN`, which the caller adds with the environment token's value).
    pub fn plain(&self) -> Vec<(&'static str, String)> {
        let server = self.server_url.trim_end_matches('/');
        vec![
            ("CODESPACES", "true".to_owned()),
            ("CODESPACE_NAME", self.codespace_name.to_owned()),
            ("GITHUB_REPOSITORY", self.repository.to_owned()),
            ("GITHUB_USER", self.user.to_owned()),
            ("GITHUB_API_URL", format!("{server}/api/v3")),
            ("GITHUB_SERVER_URL", server.to_owned()),
        ]
    }
}

/// Names of the variables holding the environment token.
pub const TOKEN_VARIABLES: [&str; 2] = ["BERTH_TOKEN", "GITHUB_TOKEN"];

/// Orders an environment's variables by precedence, later wins: the image's own, then the dev
/// container's `containerEnv` and `remoteEnv`, then the user's secrets, then Berth's variables,
/// which nothing overrides. Returns each name once, at the position its winning value came from.
pub fn layer_variables<V: Clone>(layers: &[Vec<(String, V)>]) -> Vec<(String, V)> {
    let mut out: Vec<(String, V)> = Vec::new();
    for layer in layers {
        for (name, value) in layer {
            out.retain(|(n, _)| n != name);
            out.push((name.clone(), value.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_words_round_trip_and_gate_the_verbs() {
        for s in CodespaceState::ALL {
            assert_eq!(CodespaceState::parse(s.as_str()), Some(s));
        }
        assert_eq!(CodespaceState::parse("available"), None);
        let startable: Vec<_> = CodespaceState::ALL
            .into_iter()
            .filter(|s| s.can_start())
            .collect();
        assert_eq!(
            startable,
            [CodespaceState::Shutdown, CodespaceState::Failed]
        );
        assert!(CodespaceState::Starting.is_busy() && !CodespaceState::Available.is_busy());
    }

    #[test]
    fn names_are_container_names() {
        let table = [
            ("alice", "web", "x1y2", "alice-web-x1y2"),
            ("Alice", "My.Repo_v2", "AB", "alice-my-repo-v2-ab"),
            ("acme", "--x--", "q", "acme-x-q"),
        ];
        for (login, repo, suffix, want) in table {
            assert_eq!(codespace_name(login, repo, suffix), want);
        }
        let long = codespace_name(&"a".repeat(39), &"r".repeat(100), "0123456789");
        assert!(long.len() <= 60 && long.ends_with("-0123456789"), "{long}");
        assert!(
            long.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    #[test]
    fn later_layers_win_and_berths_variables_come_last() {
        let l = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let image = l(&[("PATH", "/bin"), ("LANG", "C")]);
        let container_env = l(&[("LANG", "C.UTF-8"), ("EDITOR", "vi")]);
        let secrets = l(&[("EDITOR", "nano"), ("CODESPACES", "no")]);
        let builtins = l(&[("CODESPACES", "true")]);
        let got = layer_variables(&[image, container_env, secrets, builtins]);
        assert_eq!(
            got,
            l(&[
                ("PATH", "/bin"),
                ("LANG", "C.UTF-8"),
                ("EDITOR", "nano"),
                ("CODESPACES", "true")
            ])
        );
    }

    #[test]
    fn builtins_point_at_the_api() {
        let b = BuiltinVariables {
            codespace_name: "alice-web-1",
            repository: "alice/web",
            user: "alice",
            server_url: "http://127.0.0.1:8080/",
        };
        let plain = b.plain();
        assert!(plain.contains(&("GITHUB_API_URL", "http://127.0.0.1:8080/api/v3".into())));
        assert!(plain.contains(&("GITHUB_SERVER_URL", "http://127.0.0.1:8080".into())));
        assert!(plain.contains(&("CODESPACES", "true".into())));
    }
}
