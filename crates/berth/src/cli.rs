//! The command line, as clap sees it. Raw flags are turned into validated values by the
//! subcommand that uses them (`serve::Settings`, the client's commands).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Development environments whose images live in private registries"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The server to talk to (overrides the one saved by `berth login`).
    #[arg(long, global = true, env = "BERTH_SERVER")]
    pub server: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Save a server and token for later commands (the token is read from standard input).
    Login {
        #[arg(long, env = "BERTH_SERVER")]
        server: String,
    },
    /// Forget the saved server and token.
    Logout,
    /// Users (site administrators).
    #[command(subcommand)]
    User(UserCommand),
    /// Organizations and their members.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Repositories and their collaborators.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Personal and repository access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Your SSH public keys, which let you into your environments over SSH.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Packages (container, or npm with --type npm): visibility, source repository, inheritance
    /// and grants.
    Package {
        /// The kind of package.
        #[arg(long = "type", global = true, default_value = "container", value_parser = ["container", "npm"])]
        kind: String,
        #[command(subcommand)]
        command: PackageCommand,
    },
    /// Codespaces secrets of a user, a repository or an organization (sealed before they leave).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Container registry logins: check one, or every login an environment would get.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Development environments ("codespaces"): create, list, start, stop, exec, logs, delete.
    #[command(subcommand)]
    Codespace(CodespaceCommand),
    /// Site administration.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
pub enum CodespaceCommand {
    /// Create an environment for a repository and follow its creation log until it is up.
    Create {
        /// The repository, OWNER/REPO.
        #[arg(short = 'R', long = "repo")]
        repo: String,
        /// The branch to clone (default: the repository's default branch).
        #[arg(short, long)]
        branch: Option<String>,
        /// The image to run, instead of the dev container configuration's.
        #[arg(long)]
        image: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// A machine type (see `berth codespace machines -R OWNER/REPO`) [default: the server's first].
        #[arg(long)]
        machine: Option<String>,
        /// The dev container configuration to use, e.g. .devcontainer/python/devcontainer.json
        /// (see `berth codespace devcontainers -R OWNER/REPO`) [default: .devcontainer/devcontainer.json, then .devcontainer.json].
        #[arg(long)]
        devcontainer_path: Option<String>,
        /// Return once the environment is queued, without following its log.
        #[arg(long)]
        no_wait: bool,
    },
    /// The dev container configurations in a repository, at a branch.
    Devcontainers {
        /// The repository, OWNER/REPO.
        #[arg(short = 'R', long = "repo")]
        repo: String,
        /// The branch to look at (default: the repository's default branch).
        #[arg(short, long)]
        branch: Option<String>,
    },
    /// The machine types an environment of a repository can have.
    Machines {
        #[arg(short = 'R', long = "repo", value_name = "OWNER/REPO")]
        repo: String,
    },
    /// Your environments.
    List,
    /// Show one environment.
    Show { name: String },
    /// Start a stopped environment and follow its log until it is up.
    Start {
        name: String,
        #[arg(long)]
        no_wait: bool,
    },
    /// Stop an environment; its workspace and changes are kept.
    Stop { name: String },
    /// Delete an environment and everything in it.
    Delete { name: String },
    /// Run a command in a running environment; its exit code becomes this command's. Standard
    /// input is passed to it when it is not a terminal (up to 1 MiB; read whole first).
    Exec {
        name: String,
        /// Do not read standard input (as `ssh -n`): the command reads end of file.
        #[arg(short = 'n', long, conflicts_with = "tty")]
        no_stdin: bool,
        /// Keep standard input open (with -t: an interactive terminal, as `docker exec -it`).
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Run on a terminal (this one, in raw mode; its size followed); no command: a login shell.
        #[arg(short = 't', long, requires = "interactive")]
        tty: bool,
        /// The command and its arguments (after `--`).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Print the creation log.
    Logs {
        name: String,
        /// Keep printing until the environment settles.
        #[arg(short, long)]
        follow: bool,
    },
    /// SSH into an environment through the API, for servers that publish only HTTPS: runs ssh
    /// (with your own keys) over a WebSocket; `--stdio` carries one connection on standard input
    /// and output (OpenSSH's ProxyCommand); `--config` prints a Host block for ~/.ssh/config
    /// (for NAME, or for every environment of yours without one).
    Ssh {
        #[arg(required_unless_present = "config")]
        name: Option<String>,
        #[arg(long, conflicts_with = "config")]
        stdio: bool,
        #[arg(long)]
        config: bool,
        /// A command to run (after `--`).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// List the ports listening inside an environment (`ports NAME`), or forward one to this
    /// machine through the API (`ports forward NAME LOCAL:REMOTE`).
    #[command(args_conflicts_with_subcommands = true)]
    Ports {
        #[command(subcommand)]
        command: Option<PortsCommand>,
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PortsCommand {
    /// Listen on 127.0.0.1:LOCAL and carry each connection to port REMOTE inside the
    /// environment, until interrupted (LOCAL 0: any free port, printed).
    Forward {
        name: String,
        /// LOCAL:REMOTE, or one port for both.
        ports: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Perform the real login flow, one line per step, and say what failed. Exit codes: 10 name
    /// does not resolve, 11 cannot connect, 12 TLS, 13 not a registry, 14 bad credentials,
    /// 15 token endpoint failure, 16 no pull permission, 17 ECR refused the keys.
    Check(RegistryCheckArgs),
}

#[derive(Debug, Args)]
pub struct RegistryCheckArgs {
    /// A registry to check from this machine (e.g. ghcr.io, https://registry.example.com,
    /// 127.0.0.1:5000); by default the Berth server's own (BERTH_SERVER, or the one saved by
    /// `berth login`, with your token unless -u says otherwise). With -R, the Berth server as for
    /// every command.
    #[arg(long, env = "BERTH_SERVER")]
    pub server: Option<String>,
    /// The username (an AWS access key ID for Amazon ECR, or AWS with a ready token).
    #[arg(short = 'u', long, conflicts_with = "repo")]
    pub username: Option<String>,
    /// Read the password (or token, or AWS secret access key) from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Check, from the server, every login an environment of this repository would get (as you).
    #[arg(short = 'R', long = "repo", value_name = "OWNER/REPO")]
    pub repo: Option<String>,
    /// Also check that the login may pull this repository of the registry (e.g. acme/app).
    #[arg(long, value_name = "NAME")]
    pub repository: Option<String>,
}

/// Whose secrets: the signed-in user's (the default), a repository's, or an organization's.
#[derive(Debug, Args, Clone)]
pub struct SecretScopeArgs {
    /// Your own user secrets (the default).
    #[arg(long, conflicts_with_all = ["repo", "org"])]
    pub user: bool,
    /// A repository's secrets.
    #[arg(short = 'R', long, value_name = "OWNER/REPO", conflicts_with = "org")]
    pub repo: Option<String>,
    /// An organization's secrets.
    #[arg(long)]
    pub org: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a public key: a .pub file (as ~/.ssh/id_ed25519.pub), or - for standard input.
    Add {
        file: std::path::PathBuf,
        /// A name to tell it by (default: the key's comment).
        #[arg(long)]
        title: Option<String>,
    },
    /// List your keys with their fingerprints.
    List,
    /// Delete one of your keys (by its id, from `berth key list`): new connections with it are
    /// refused at once; open ones stay.
    Delete { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create or update a secret; the value comes from --body or standard input.
    Set {
        name: String,
        #[command(flatten)]
        scope: SecretScopeArgs,
        /// The value (otherwise read from standard input).
        #[arg(long)]
        body: Option<String>,
        /// Organization secrets: which repositories get it [default: private].
        #[arg(long, value_parser = ["all", "private", "selected"])]
        visibility: Option<String>,
        /// Repositories that get it (user secrets; organization secrets with `selected`).
        #[arg(long, value_delimiter = ',', value_name = "OWNER/REPO,…")]
        repos: Option<Vec<String>>,
    },
    /// List secrets (names and dates, never values).
    List {
        #[command(flatten)]
        scope: SecretScopeArgs,
    },
    /// Delete a secret.
    Delete {
        name: String,
        #[command(flatten)]
        scope: SecretScopeArgs,
    },
    /// The repositories a user or organization secret is selected for.
    #[command(subcommand)]
    Repos(SecretReposCommand),
    /// Which secrets an environment of a repository would get (names and levels only).
    Preview {
        #[arg(short = 'R', long, value_name = "OWNER/REPO")]
        repo: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretReposCommand {
    /// List them.
    List {
        name: String,
        #[command(flatten)]
        scope: SecretScopeArgs,
    },
    /// Add repositories.
    Add {
        name: String,
        #[arg(value_delimiter = ',', required = true, value_name = "OWNER/REPO,…")]
        repos: Vec<String>,
        #[command(flatten)]
        scope: SecretScopeArgs,
    },
    /// Remove repositories.
    Remove {
        name: String,
        #[arg(value_delimiter = ',', required = true, value_name = "OWNER/REPO,…")]
        repos: Vec<String>,
        #[command(flatten)]
        scope: SecretScopeArgs,
    },
    /// Replace the selection.
    Set {
        name: String,
        #[arg(value_delimiter = ',', value_name = "OWNER/REPO,…")]
        repos: Vec<String>,
        #[command(flatten)]
        scope: SecretScopeArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Re-wrap every stored secret under a new master key (online; values stay readable).
    RotateMasterKey,
    /// Give the SSH gateway a new host key, served at once (open connections keep theirs);
    /// clients trust it again with `berth codespace ssh --config`.
    RotateSshHostKey,
    /// The newest create/update/delete records of secrets.
    SecretAudit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Collect the registry's garbage now: deleted versions past retention, unreferenced blobs,
    /// abandoned uploads (the server also does this every --gc-interval).
    Gc {
        /// Keep deleted versions restorable for this many seconds [default: 30 days].
        #[arg(long)]
        version_retention: Option<u64>,
        /// Keep blobs pushed or linked this recently [default: 3600].
        #[arg(long)]
        grace: Option<u64>,
        /// Remove uploads idle this long [default: 86400].
        #[arg(long)]
        upload_ttl: Option<u64>,
        /// Delete container versions no tag or live manifest keeps (restorable until purged)
        /// once pushed this many seconds ago [default: keep them, as GitHub does].
        #[arg(long)]
        untagged_after: Option<u64>,
        /// Say what a collection would remove now, and remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `berth serve`: every flag may also come from `BERTH_*` or the config file (flags win, then
/// the environment, then the file, then the defaults).
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Where Berth keeps its database, keys and blobs [default: ./berth-data].
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BERTH_LISTEN")]
    pub listen: Option<String>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Address of the SSH gateway (the user name is an environment's name); 0 turns it off
    /// [default: 127.0.0.1:2222, skipped with a warning when that port is taken].
    #[arg(long, env = "BERTH_SSH_LISTEN")]
    pub ssh_listen: Option<String>,
    /// A TOML file with any of: data_dir, listen, ssh_listen, tls_cert, tls_key, database_url, external_url,
    /// replica_address, gc_interval, gc_untagged_after, shutdown_timeout, blob_store, blob_part_size, blob_redirect, runtime, an [s3] table (endpoint, region, access_key_id, secret_access_key, virtual_hosted_style) and an [environments] table (machines, egress_allow, egress_deny, the size limits).
    #[arg(long, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// `postgres://…` for PostgreSQL [default: SQLite in the data directory].
    #[arg(long, env = "BERTH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The URL clients reach this server at, used in API responses [default: from --listen].
    #[arg(long, env = "BERTH_EXTERNAL_URL")]
    pub external_url: Option<String>,
    /// With several replicas on one database: the URL the other replicas reach this one at,
    /// to forward the requests of the environments it runs (exec, logs, SSH, ports)
    /// [default: from --listen, unless it listens on every address].
    #[arg(long, env = "BERTH_REPLICA_ADDRESS")]
    pub replica_address: Option<String>,
    /// Seconds between garbage collections of the registry; 0 turns them off [default: 3600].
    #[arg(long, env = "BERTH_GC_INTERVAL")]
    pub gc_interval: Option<u64>,
    /// In those collections, delete container versions no tag or live manifest keeps once
    /// pushed this many seconds ago (restorable for 30 days) [default: keep them, as GitHub
    /// does].
    #[arg(long, env = "BERTH_GC_UNTAGGED_AFTER")]
    pub gc_untagged_after: Option<u64>,
    /// Where blobs (layers, npm tarballs, uploads) are kept: `s3://bucket/prefix` for an
    /// S3-compatible store, reached with the AWS variables (AWS_ENDPOINT_URL, AWS_REGION,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) [default: <data-dir>/storage].
    #[arg(long, env = "BERTH_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// With --blob-store s3://…: the size of the parts uploads are sent in, in MiB (at least 5)
    /// [default: 8].
    #[arg(long, env = "BERTH_BLOB_PART_SIZE")]
    pub blob_part_size: Option<usize>,
    /// With --blob-store s3://…: send clients pulling a whole blob to a pre-signed URL of the
    /// store (valid 20 minutes) instead of serving the bytes; the clients must reach the store.
    #[arg(long, env = "BERTH_BLOB_REDIRECT")]
    pub blob_redirect: bool,
    /// Seconds a shutdown (SIGTERM, SIGINT) waits for running requests, such as uploads and
    /// downloads, before it stops them [default: 30].
    #[arg(long, env = "BERTH_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<u64>,
    /// What runs environments: `runc` (an OCI bundle per environment) or `docker` (the Docker
    /// Engine at DOCKER_HOST, else /var/run/docker.sock) [default: runc].
    #[arg(long, env = "BERTH_RUNTIME")]
    pub runtime: Option<String>,
    /// A network the server may connect to for users (pulls, login checks, token realms, clones)
    /// although it is refused by default (loopback, link-local, private), e.g. 127.0.0.0/8 for
    /// a registry on this machine; repeatable.
    #[arg(long = "egress-allow", value_name = "CIDR")]
    pub server_egress_allow: Vec<String>,
    /// A directory under which users may set local (file://) clone URLs; repeatable. Without,
    /// only site administrators may.
    #[arg(long = "clone-allow-dir", value_name = "DIR")]
    pub clone_allow_dirs: Vec<PathBuf>,
    /// A network the server may not connect to for users, besides the defaults; repeatable.
    #[arg(long = "egress-deny", value_name = "CIDR")]
    pub server_egress_deny: Vec<String>,
    /// A network environments may reach although it is refused by default (loopback,
    /// link-local and private ranges), e.g. 10.1.0.0/16; repeatable.
    #[arg(long = "environment-egress-allow", value_name = "CIDR")]
    pub egress_allow: Vec<String>,
    /// A network environments may not reach, besides the defaults; repeatable.
    #[arg(long = "environment-egress-deny", value_name = "CIDR")]
    pub egress_deny: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create { login: String },
    /// Show a user (yourself when no login is given).
    Show { login: Option<String> },
    /// Set a user's password for the web UI's sign-in (site administrators): one made up and
    /// printed, or with --stdin the one read from standard input.
    Password {
        login: String,
        /// Read the password from standard input instead of making one up.
        #[arg(long)]
        stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization owned by an existing user.
    Create {
        login: String,
        /// The user who becomes its first owner.
        #[arg(long)]
        admin: String,
    },
    /// Organization members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// An organization's teams and their members.
    #[command(subcommand)]
    Team(TeamCommand),
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team (organization owners); you become its first maintainer.
    Create {
        org: String,
        /// Its name; its slug (what other commands take) is made from it.
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// closed: every member of the organization sees it; secret: only its members and the owners.
        #[arg(long, default_value = "closed", value_parser = ["closed", "secret"])]
        privacy: String,
        /// Members of the organization who become maintainers too (repeatable).
        #[arg(long = "maintainer")]
        maintainers: Vec<String>,
    },
    /// List the teams you see.
    List { org: String },
    /// Delete a team with its memberships and package grants.
    Delete { org: String, slug: String },
    /// A team's members.
    #[command(subcommand)]
    Member(TeamMemberCommand),
}

#[derive(Debug, Subcommand)]
pub enum TeamMemberCommand {
    /// Add a member of the organization to the team, or change their role.
    Add {
        org: String,
        slug: String,
        login: String,
        #[arg(long, default_value = "member", value_parser = ["member", "maintainer"])]
        role: String,
    },
    /// Remove a member from the team.
    Remove {
        org: String,
        slug: String,
        login: String,
    },
    /// List the team's members.
    List { org: String, slug: String },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a member or change their role.
    Add {
        org: String,
        login: String,
        #[arg(long, default_value = "member", value_parser = ["member", "owner"])]
        role: String,
    },
    /// Remove a member.
    Remove { org: String, login: String },
    /// List members.
    List { org: String },
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create OWNER/NAME (OWNER is you or an organization you belong to).
    Create {
        full_name: String,
        #[arg(long, default_value = "private", value_parser = ["public", "private", "internal"])]
        visibility: String,
        /// The git URL environments clone (any git URL, file:// included).
        #[arg(long)]
        clone_url: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Change a repository (repository admins): its name, visibility, description, clone URL
    /// or default branch.
    Edit {
        full_name: String,
        /// A new name (the owner stays).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = ["public", "private", "internal"])]
        visibility: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// The git URL environments clone.
        #[arg(long, conflicts_with = "no_clone_url")]
        clone_url: Option<String>,
        /// Remove the clone URL: new environments start with an empty workspace.
        #[arg(long)]
        no_clone_url: bool,
        /// The branch new environments clone when none is given.
        #[arg(long)]
        default_branch: Option<String>,
    },
    /// Delete a repository with its secrets, collaborators and tokens (packages stay, unlinked).
    Delete {
        full_name: String,
        /// Confirm: the repository cannot be restored.
        #[arg(long)]
        yes: bool,
    },
    /// Show a repository.
    Show { full_name: String },
    /// List your repositories, or an account's.
    List { owner: Option<String> },
    /// Repository collaborators.
    #[command(subcommand)]
    Collaborator(CollaboratorCommand),
}

#[derive(Debug, Subcommand)]
pub enum CollaboratorCommand {
    /// Add a collaborator or change their permission.
    Add {
        full_name: String,
        login: String,
        #[arg(long, default_value = "write", value_parser = ["read", "write", "admin"])]
        permission: String,
    },
    /// Remove a collaborator.
    Remove { full_name: String, login: String },
    /// List collaborators.
    List { full_name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once.
    Create {
        /// Comma-separated scopes, e.g. repo,write:packages.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long, default_value = "")]
        note: String,
        /// Expire after this many days.
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Create it for another user (site administrators: impersonation).
        #[arg(long, conflicts_with = "repo")]
        user: Option<String>,
        /// Create a repository token that acts as OWNER/NAME instead.
        #[arg(long)]
        repo: Option<String>,
    },
    /// List your tokens.
    List,
    /// Revoke one of your tokens.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// List an account's packages you can see (yours when no owner is given).
    List { owner: Option<String> },
    /// Show a package: OWNER/NAME (a container's NAME may contain `/`; an npm package may be
    /// written @OWNER/NAME).
    Show { package: String },
    /// Set a package's visibility (public is final).
    Visibility {
        package: String,
        #[arg(value_parser = ["public", "private", "internal"])]
        visibility: String,
    },
    /// Link a package to a repository of its owner (OWNER/REPO), or unlink it.
    Link {
        package: String,
        #[arg(required_unless_present = "unlink")]
        repository: Option<String>,
        #[arg(long, conflicts_with = "repository")]
        unlink: bool,
    },
    /// Turn inheriting access from the linked repository on or off (replaces user grants).
    Inherit {
        package: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Grant a user a role, or a repository environments and/or token access.
    Grant {
        package: String,
        #[arg(long, required_unless_present_any = ["repo", "team"], conflicts_with_all = ["repo", "team"])]
        user: Option<String>,
        /// A team of the package's organization (its slug): every member holds the role.
        #[arg(long, conflicts_with = "repo")]
        team: Option<String>,
        #[arg(long, default_value = "read", value_parser = ["read", "write", "admin"])]
        role: String,
        /// A repository, OWNER/REPO.
        #[arg(long)]
        repo: Option<String>,
        /// Let the repository's environments pull.
        #[arg(long)]
        environments: bool,
        /// Give the repository's tokens this role.
        #[arg(long, value_parser = ["read", "write", "admin"])]
        token_role: Option<String>,
    },
    /// Remove a user's or a repository's grant.
    Revoke {
        package: String,
        #[arg(long, required_unless_present_any = ["repo", "team"], conflicts_with_all = ["repo", "team"])]
        user: Option<String>,
        #[arg(long, conflicts_with = "repo")]
        team: Option<String>,
        #[arg(long)]
        repo: Option<String>,
    },
    /// List a package's explicit grants.
    Access { package: String },
}
