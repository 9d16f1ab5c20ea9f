//! Steps 5 and 6 of a start: the dev container configuration, the image it (or the creator)
//! names, and where to pull that image from with which login — Berth's own registry with the
//! environment token, a registry a login names, or anonymously — checked against the egress
//! policy before anything is sent.

use berth_domain::devcontainer::DevContainer;
use berth_domain::logins::RegistryHost;
use berth_registry_client::ImageRef;
use berth_registry_client::egress::ResolveError;
use berth_registry_client::logins::RegistryLogin;
use berth_runtime::ImageSource;
use secrecy::SecretString;

use super::super::failure::PulledWith;
use super::super::workspace::read_devcontainer;
use super::super::{CodespaceView, CreationLog, Environments, Paths, State};
use super::{StartError, StartResult, own_login};
use crate::logins::LoginSet;

/// Step 5: the dev container configuration in the workspace (the one chosen at creation, else
/// the default), narrated with what Berth ignores of it.
pub(super) fn read_config(
    paths: &Paths,
    view: &CodespaceView,
    log: &CreationLog,
) -> StartResult<DevContainer> {
    let chosen = view.record.devcontainer_path.as_deref();
    Ok(match read_devcontainer(&paths.workspace(), chosen)? {
        Some((rel, dc)) => {
            log.line(&format!("read {rel}"));
            if !dc.unsupported.is_empty() {
                log.line(&format!(
                    "{rel}: not supported by Berth, ignored: {}",
                    dc.unsupported.join(", ")
                ));
            }
            dc
        }
        None => {
            log.line("no .devcontainer/devcontainer.json or .devcontainer.json in the workspace");
            DevContainer::default()
        }
    })
}

/// The image to run: the one asked for at creation, else the configuration's.
pub(super) fn choose_image(
    view: &CodespaceView,
    dc: &DevContainer,
    log: &CreationLog,
) -> StartResult<String> {
    match (&view.record.image, &dc.image) {
        (Some(i), _) => {
            log.line(&format!("image {i} (asked for at creation)"));
            Ok(i.clone())
        }
        (None, Some(i)) => {
            log.line(&format!("image {i} (from the dev container configuration)"));
            Ok(i.clone())
        }
        (None, None) => Err(StartError::NoImage),
    }
}

/// Where an image is pulled from, how, and Berth's own login (written inside the environment
/// whichever registry the image is on).
pub(super) struct PullPlan {
    pub source: ImageSource,
    pub with: PulledWith,
    pub berth_login: RegistryLogin,
}

impl Environments {
    /// Step 6: the pull's source and credentials.
    pub(super) async fn image_source(
        &self,
        envs: &State,
        view: &CodespaceView,
        image: &str,
        logins: &LoginSet,
        token: &SecretString,
        log: &CreationLog,
    ) -> StartResult<PullPlan> {
        let reference = ImageRef::parse(image).map_err(|e| StartError::BadImage {
            image: image.to_owned(),
            detail: e.to_string(),
        })?;
        let server_url = &envs.config.server_url;
        let (own_host, own_scheme) =
            RegistryHost::parse(server_url).map_err(|e| StartError::ServerUrl(e.to_string()))?;
        let berth_login = own_login(server_url, view.owner.login.as_str(), token)?;
        let user_egress = self.remote().egress_for(&view.owner).clone();
        let (source, with) = if reference.host.config_key() == own_host.config_key() {
            log.line(&format!(
                "pulling {image} from Berth's registry with the environment token"
            ));
            let (credentials, _) = berth_login
                .credentials(&self.remote().ecr, self.now_utc())
                .await
                .map_err(StartError::logins("registry login"))?;
            let with = PulledWith::Berth {
                package: reference.repository.clone(),
                repository: view.repo.full_name(),
            };
            let source = ImageSource {
                reference,
                scheme: own_scheme,
                credentials,
                // Berth's own registry: its own address, whatever the policy.
                egress: self.remote().unrestricted.clone(),
            };
            (source, with)
        } else if let Some(login) = logins
            .logins
            .iter()
            .find(|l| l.host.config_key() == reference.host.config_key())
        {
            log.line(&format!(
                "pulling {image} with the registry login {}",
                login.prefix
            ));
            let (credentials, _) = login
                .credentials(&self.remote().ecr, self.now_utc())
                .await
                .map_err(|e| StartError::LoginUnusable {
                    image: image.to_owned(),
                    prefix: login.prefix.clone(),
                    detail: e.to_string(),
                })?;
            let source = ImageSource {
                reference,
                scheme: login.scheme,
                credentials,
                egress: user_egress,
            };
            let with = PulledWith::Login {
                prefix: login.prefix.clone(),
            };
            (source, with)
        } else {
            log.line(&format!(
                "pulling {image} anonymously: no registry login names {}",
                reference.host
            ));
            let source = ImageSource {
                reference,
                scheme: None,
                credentials: None,
                egress: user_egress,
            };
            (source, PulledWith::Anonymous)
        };
        check_egress(&source, image).await?;
        Ok(PullPlan {
            source,
            with,
            berth_login,
        })
    }
}

/// The egress policy, before anything is sent (the Docker Engine pulls by itself, so this is
/// its check; runc's pull checks every connection again).
async fn check_egress(source: &ImageSource, image: &str) -> StartResult<()> {
    if !source.egress.is_restricted() {
        return Ok(());
    }
    let authority = source.reference.host.api_authority();
    let (name, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !authority.ends_with(']') => (h, p.parse().unwrap_or(443)),
        _ => (authority, 443),
    };
    match source.egress.resolve(name, port).await {
        Err(ResolveError::Refused(r)) => Err(StartError::Refused {
            image: image.to_owned(),
            reason: r.to_string(),
        }),
        _ => Ok(()),
    }
}
