//! A failed pull said so that the user knows what to do: which registry, why (no login for that
//! server, the login rejected, or not granted to this repository), and the next step.

use berth_registry_client::{FailureClass, RegistryError};

/// How the image was being pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PulledWith {
    /// Berth's own registry, with the environment's token: the package pulled, and the
    /// environment's repository.
    Berth { package: String, repository: String },
    /// A login from the triple with this prefix.
    Login { prefix: String },
    /// No triple names this server.
    Anonymous,
}

/// The environment's failure reason for a pull of `image` from `host` that failed with `error`.
pub(crate) fn pull_failure(
    image: &str,
    host: &str,
    with: &PulledWith,
    error: &RegistryError,
) -> String {
    let class = error.class();
    match (with, class) {
        (PulledWith::Anonymous, FailureClass::BadCredentials | FailureClass::Denied) => format!(
            "cannot pull {image}: no registry login for {host}, and it does not let anyone pull the image. \
             Add secrets P_CONTAINER_REGISTRY_SERVER={host}, P_CONTAINER_REGISTRY_USER and \
             P_CONTAINER_REGISTRY_PASSWORD (for this repository, your user or its organization), then start the codespace again"
        ),
        (PulledWith::Login { prefix }, FailureClass::BadCredentials) => format!(
            "cannot pull {image}: {host} rejected the login {prefix}. Check the secrets \
             {prefix}_CONTAINER_REGISTRY_USER and {prefix}_CONTAINER_REGISTRY_PASSWORD \
             (try `berth registry check -R OWNER/REPO`), then start the codespace again"
        ),
        (PulledWith::Login { prefix }, FailureClass::Denied) => format!(
            "cannot pull {image}: the login {prefix} may not pull it from {host}, or it does not exist. \
             Check the image name, and give the login's user read access to it"
        ),
        (
            PulledWith::Berth {
                package,
                repository,
            },
            FailureClass::Denied | FailureClass::BadCredentials,
        ) => {
            format!(
                "cannot pull {image}: it does not exist in Berth's registry, or it is not granted to the repository \
             {repository}. Give {repository}'s environments access (`berth package grant {package} --repo {repository}`), \
             or link the package to {repository} with inheritance on, then start the codespace again"
            )
        }
        _ => format!("cannot pull {image}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_registry_client::AuthVia;

    #[test]
    fn each_reason_names_the_registry_and_the_next_step() {
        let denied = RegistryError::Denied {
            host: "r.example:5000".into(),
            repository: "team/img".into(),
        };
        let rejected = RegistryError::BadCredentials {
            host: "r.example:5000".into(),
            via: AuthVia::Basic,
        };
        let table = [
            (
                PulledWith::Anonymous,
                &rejected,
                "no registry login for r.example:5000",
            ),
            (
                PulledWith::Login {
                    prefix: "ACME".into(),
                },
                &rejected,
                "rejected the login ACME",
            ),
            (
                PulledWith::Login {
                    prefix: "ACME".into(),
                },
                &denied,
                "the login ACME may not pull",
            ),
            (
                PulledWith::Berth {
                    package: "acme/img".into(),
                    repository: "o/r".into(),
                },
                &denied,
                // The advice is a command that works as written (it once needed --environments).
                "not granted to the repository o/r. Give o/r's environments access (`berth package grant acme/img --repo o/r`)",
            ),
        ];
        for (with, error, want) in table {
            let got = pull_failure("r.example:5000/team/img:1", "r.example:5000", &with, error);
            assert!(
                got.contains(want) && got.contains("r.example:5000"),
                "{got}"
            );
        }
    }
}
