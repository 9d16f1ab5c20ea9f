//! SSH public keys as users give them (`ssh-ed25519 AAAA… alice@laptop`): which kinds Berth takes,
//! the key as stored (type and base64, without the comment), and its fingerprint — what the SSH
//! gateway compares a presented key by.
//!
//! Decisions (GitHub takes the same kinds): Ed25519, ECDSA (NIST P-256/384/521), RSA of at least
//! 2048 bits, and the FIDO (`sk-`) Ed25519 and ECDSA kinds; DSA and shorter RSA keys are refused,
//! as OpenSSH itself no longer trusts them. A title is at most [`TITLE_MAX`] characters.

use ssh_key::{Algorithm, HashAlg, PublicKey};

/// The longest title a key may have.
pub const TITLE_MAX: usize = 100;
/// The most keys one user may hold (a bound on what one account stores and the gateway checks).
pub const KEYS_PER_USER: usize = 100;
/// The fewest bits an RSA key may have.
pub const RSA_MIN_BITS: usize = 2048;

/// A public key that was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    /// `<type> <base64>`, the comment dropped (GitHub shows keys so).
    pub key: String,
    /// `SHA256:<base64>`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// Why a key was refused. The message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshKeyError {
    #[error(
        "key is not an OpenSSH public key line (\"ssh-ed25519 AAAA… comment\", as in ~/.ssh/id_ed25519.pub): {0}"
    )]
    Unparsable(String),
    #[error("{0} keys are not accepted; use an Ed25519 key (ssh-keygen -t ed25519)")]
    Kind(String),
    #[error(
        "this RSA key has {bits} bits; at least {RSA_MIN_BITS} are needed (or use ssh-keygen -t ed25519)"
    )]
    RsaTooShort { bits: usize },
    #[error("title is longer than {TITLE_MAX} characters")]
    TitleTooLong,
}

/// Parses one public key line (a private key, or several lines, is refused).
pub fn parse_public_key(line: &str) -> Result<SshPublicKey, SshKeyError> {
    let line = line.trim();
    if line.contains('\n') || line.contains("PRIVATE KEY") {
        return Err(SshKeyError::Unparsable(
            "give one public key line (the .pub file), never the private key".into(),
        ));
    }
    let key = PublicKey::from_openssh(line).map_err(|e| SshKeyError::Unparsable(e.to_string()))?;
    match key.algorithm() {
        Algorithm::Ed25519
        | Algorithm::Ecdsa { .. }
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256 => {}
        Algorithm::Rsa { .. } => {
            let bits = key
                .key_data()
                .rsa()
                .and_then(|rsa| rsa.n.as_positive_bytes())
                .map_or(0, |n| {
                    let lead = n.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
                    (n.len().saturating_sub(1)) * 8 + lead
                });
            if bits < RSA_MIN_BITS {
                return Err(SshKeyError::RsaTooShort { bits });
            }
        }
        other => return Err(SshKeyError::Kind(other.as_str().to_owned())),
    }
    let bare = PublicKey::new(key.key_data().clone(), "");
    let text = bare
        .to_openssh()
        .map_err(|e| SshKeyError::Unparsable(e.to_string()))?;
    Ok(SshPublicKey {
        key: text.trim_end().to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// Checks a key's title.
pub fn check_title(title: &str) -> Result<(), SshKeyError> {
    if title.chars().count() > TITLE_MAX {
        return Err(SshKeyError::TitleTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `ssh-keygen`; the fingerprints are what `ssh-keygen -l -f` printed for them.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIlC72C1EZWS7RLecMMMeOz1FLe3+PUdE3oT1oZO7rfV alice@laptop";
    const ED25519_FP: &str = "SHA256:HGacgKYA9350WKZfL6WtxJpkO3ijLokCL/8sE/Yltqo";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDou17tCKqSRLXXkyMP+NX1ssah3ZoviExztsskgkIQstOIrLJ3/i2ZByWU/IkhIKYmIbvcIJgvK3erA3k7MLNA=";
    const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBAJpJl/QZq2NtbBWAEcYiZzqMq8B06PYRsCK1m5j6zTfM3v0NZC6D+JAETy83txnUscEqEGme3s6+QXVijn97eHeBYGaXzIQTynOa5NvMI4rEIPjrLZz2qi/BL6priy0gJdDb+fUZwUs5kGz2aZxdkiGj1reksC21eCPF0vVt5fPPAAAAFQDjYTyQ4u7OadCq0LJ+1ynChtiBsQAAAIAWy8wuU8eXJIxSOIpI1k9auIoJ+2KnezhjXEngUzWD6jk3hnwyFh/SRr3o/mZqO1BIp9B9iJlKd81iWIGFgV6Yw17nfOOuzsHNtjwcp2OvycLmL+hrN4s0IELSgTRFUw8RmN7PEBAIrAcyhjZnkaz32QHp8+3LiEe7iCqogD3B8QAAAIALM24yDg4GQcUJsPjBMYVOqP7FOIs7MubDlwtiviYM1zoOV5qdwVuRKOsNXo8qwG9D2NpvKc+3pvTsRSKDn+R02P9kH3DiPs1QqnXmPlkfMa++kyBKnLAPwzmeDaZNgSr3t3+lG/lDn4liyhusMIPQOBZlaKJYA80GGdEwiUnrrA==";

    #[test]
    fn a_key_line_is_stored_without_its_comment_and_fingerprinted_as_ssh_keygen_does() {
        let k = parse_public_key(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(
            k.key,
            ED25519.rsplit_once(' ').unwrap().0,
            "the comment is dropped"
        );
        assert_eq!(k.fingerprint, ED25519_FP);
        let again = parse_public_key(&k.key).unwrap();
        assert_eq!(again, k, "the stored form parses to itself");
    }

    #[test]
    fn which_kinds_are_taken() {
        assert!(parse_public_key(ECDSA).is_ok());
        assert!(matches!(
            parse_public_key(DSA),
            Err(SshKeyError::Kind(k)) if k == "ssh-dss"
        ));
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 not-base64!",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            &format!("{ED25519}\n{ED25519}"),
            // The type inside the blob must be the one the line names.
            &ED25519.replacen("ssh-ed25519", "ecdsa-sha2-nistp256", 1),
        ] {
            assert!(
                matches!(parse_public_key(bad), Err(SshKeyError::Unparsable(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn short_rsa_keys_are_refused_with_their_size() {
        // A 1024-bit RSA key (ssh-keygen -t rsa -b 1024).
        let short = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC8u53uJPD2+PA6aTddKMjx4TkQqQ0DjtGe1dj5n1dpIVSxVgoaAJucxzhPyEMlsoSnSEo87s1GqZMp/NhqwhnFBQblvPHrM9gaML26oAe4s2h1crw91BNOu3cnmo5Dr5rSyDPDbg0xi89unnV0c2DpjGnVl6HI9bTPG4dDtD/SXQ==";
        assert_eq!(
            parse_public_key(short),
            Err(SshKeyError::RsaTooShort { bits: 1024 })
        );
    }

    #[test]
    fn titles_are_bounded() {
        assert!(check_title(&"t".repeat(TITLE_MAX)).is_ok());
        assert_eq!(
            check_title(&"t".repeat(TITLE_MAX + 1)),
            Err(SshKeyError::TitleTooLong)
        );
    }
}
