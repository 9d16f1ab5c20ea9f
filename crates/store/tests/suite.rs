//! The store suite: one set of checks, run against SQLite and against PostgreSQL.

use berth_domain::{AccountKind, Login, OrgRole, Permission, RepoName, Scopes, Visibility};
use berth_store::{
    Account, Backend, Grants, NewToken, Repo, RepoAccessFacts, RepoFields, Store, StoreError,
    TokenKind, Window, testing,
};

fn login(s: &str) -> Login {
    Login::parse(s).unwrap()
}

fn name(s: &str) -> RepoName {
    RepoName::parse(s).unwrap()
}

/// A user `name` made at time 1.
async fn user(s: &Store, name: &str) -> Account {
    s.create_account(&login(name), AccountKind::User, false, 1)
        .await
        .unwrap()
}

/// A private package `name` of `kind` published by its owner at `at`.
async fn published(
    s: &Store,
    owner: &Account,
    kind: berth_store::PackageKind,
    name: &str,
    at: i64,
) -> berth_store::Package {
    s.create_package(
        &berth_store::NewPackage {
            owner_id: owner.id,
            kind,
            name,
            visibility: Visibility::Private,
            publisher_id: Some(owner.id),
            source: berth_store::PackageSource::default(),
        },
        at,
    )
    .await
    .unwrap()
}

/// A private repository named `name`, with nothing else set.
fn private_fields(name: &RepoName) -> RepoFields<'_> {
    RepoFields {
        name,
        visibility: Visibility::Private,
        clone_url: None,
        description: None,
        default_branch: None,
    }
}

/// A private repository `name` of `owner_id`, with nothing else set, made at time 1.
async fn private_repo(s: &Store, owner_id: i64, name_: &str) -> Repo {
    s.create_repo(owner_id, private_fields(&name(name_)), None, 1)
        .await
        .unwrap()
}

async fn accounts_share_one_case_insensitive_namespace(s: &Store) {
    assert!(!s.has_accounts().await.unwrap());
    let u = s
        .create_account(&login("Octo"), AccountKind::User, false, 100)
        .await
        .unwrap();
    assert_eq!(
        (u.login.as_str(), u.kind, u.site_admin, u.created_at),
        ("Octo", AccountKind::User, false, 100)
    );
    assert!(s.has_accounts().await.unwrap());
    let err = s
        .create_account(&login("octo"), AccountKind::Organization, false, 101)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("login")), "{err:?}");
    assert_eq!(
        s.account_by_login(&login("OCTO"))
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert_eq!(s.account_by_id(u.id).await.unwrap().unwrap(), u);
    assert!(
        s.account_by_login(&login("nobody"))
            .await
            .unwrap()
            .is_none()
    );
    let admin = s
        .create_account(&login("root"), AccountKind::User, true, 102)
        .await
        .unwrap();
    assert!(admin.site_admin);
}

async fn membership_is_set_changed_listed_and_removed(s: &Store) {
    let org = s
        .create_account(&login("acme"), AccountKind::Organization, false, 1)
        .await
        .unwrap();
    let mut users = Vec::new();
    for l in ["carol", "alice", "bob"] {
        users.push(
            s.create_account(&login(l), AccountKind::User, false, 1)
                .await
                .unwrap(),
        );
    }
    for u in &users {
        s.set_membership(org.id, u.id, OrgRole::Member)
            .await
            .unwrap();
    }
    s.set_membership(org.id, users[0].id, OrgRole::Owner)
        .await
        .unwrap();
    assert_eq!(
        s.membership(org.id, users[0].id).await.unwrap(),
        Some(OrgRole::Owner)
    );
    let page = s
        .list_members(
            org.id,
            None,
            Window {
                limit: 2,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    let names: Vec<_> = page.items.iter().map(|(a, _)| a.login.as_str()).collect();
    assert_eq!(
        names,
        ["alice", "bob"],
        "ordered by login, cut to the window"
    );
    let rest = s
        .list_members(
            org.id,
            None,
            Window {
                limit: 2,
                offset: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].1, OrgRole::Owner);
    let beta = s
        .create_account(&login("beta"), AccountKind::Organization, false, 1)
        .await
        .unwrap();
    s.set_membership(beta.id, users[0].id, OrgRole::Member)
        .await
        .unwrap();
    let orgs: Vec<_> = s
        .organizations_of(users[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|(o, role)| (o.login.to_string(), role))
        .collect();
    assert_eq!(
        orgs,
        [
            ("acme".into(), OrgRole::Owner),
            ("beta".into(), OrgRole::Member)
        ],
        "a member's organizations, by login, with their role in each"
    );
    assert!(s.remove_membership(org.id, users[1].id).await.unwrap());
    assert!(!s.remove_membership(org.id, users[1].id).await.unwrap());
    assert_eq!(s.membership(org.id, users[1].id).await.unwrap(), None);
}

async fn repositories_come_with_the_callers_standing(s: &Store) {
    let org = s
        .create_account(&login("acme"), AccountKind::Organization, false, 1)
        .await
        .unwrap();
    let owner = user(s, "olga").await;
    let member = user(s, "mia").await;
    let collab = user(s, "cole").await;
    s.set_membership(org.id, member.id, OrgRole::Member)
        .await
        .unwrap();

    let r = s
        .create_repo(
            org.id,
            RepoFields {
                name: &name("Tools"),
                visibility: Visibility::Internal,
                clone_url: Some("file:///src/tools"),
                description: None,
                default_branch: None,
            },
            None,
            5,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.full_name(), r.visibility, r.clone_url.as_deref()),
        (
            "acme/Tools".into(),
            Visibility::Internal,
            Some("file:///src/tools")
        )
    );
    let err = s
        .create_repo(org.id, private_fields(&name("tools")), None, 6)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("repository")), "{err:?}");
    let mine = s
        .create_repo(
            owner.id,
            RepoFields {
                description: Some("mine"),
                ..private_fields(&name("tools"))
            },
            None,
            7,
        )
        .await
        .unwrap();
    assert_eq!(
        mine.description.as_deref(),
        Some("mine"),
        "same name, another owner"
    );

    let (_, facts) = s
        .repo_by_name(&login("ACME"), &name("TOOLS"), Some(member.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        facts,
        RepoAccessFacts {
            is_owner: false,
            org_role: Some(OrgRole::Member),
            collaborator: None
        }
    );
    let (_, facts) = s
        .repo_by_name(&login("olga"), &name("tools"), Some(owner.id))
        .await
        .unwrap()
        .unwrap();
    assert!(facts.is_owner);
    let (_, facts) = s.repo_by_id(r.id, None).await.unwrap().unwrap();
    assert_eq!(facts, RepoAccessFacts::default());

    s.grant(Grants::Collaborators, r.id, collab.id, Permission::Read)
        .await
        .unwrap();
    s.grant(Grants::Collaborators, r.id, collab.id, Permission::Write)
        .await
        .unwrap();
    let (_, facts) = s.repo_by_id(r.id, Some(collab.id)).await.unwrap().unwrap();
    assert_eq!(facts.collaborator, Some(Permission::Write));
    let list = s.collaborators(r.id).await.unwrap();
    assert_eq!(
        (
            list.len(),
            list[0].account.login.as_str(),
            list[0].permission
        ),
        (1, "cole", Permission::Write)
    );

    let related: Vec<String> = s
        .repos_related_to(collab.id)
        .await
        .unwrap()
        .iter()
        .map(|(r, _)| r.full_name())
        .collect();
    assert_eq!(related, ["acme/Tools"]);
    let related: Vec<String> = s
        .repos_related_to(owner.id)
        .await
        .unwrap()
        .iter()
        .map(|(r, _)| r.full_name())
        .collect();
    assert_eq!(related, ["olga/tools"]);
    assert_eq!(s.repos_of_owner(org.id, None).await.unwrap().len(), 1);

    assert!(
        s.revoke(Grants::Collaborators, r.id, collab.id)
            .await
            .unwrap()
    );
    assert!(
        !s.revoke(Grants::Collaborators, r.id, collab.id)
            .await
            .unwrap()
    );
    assert!(s.repos_related_to(collab.id).await.unwrap().is_empty());
}

async fn tokens_are_found_by_hash_listed_and_revoked(s: &Store) {
    let u = user(s, "tia").await;
    let repo = private_repo(s, u.id, "app").await;
    let scopes = Scopes::parse(["repo", "write:packages"]).unwrap();
    let personal = NewToken {
        hash: "h1",
        kind: TokenKind::Personal,
        user_id: Some(u.id),
        repo_id: None,
        created_by: Some(u.id),
        scopes,
        note: "laptop",
        last_eight: "abcdefgh",
        expires_at: Some(1000),
        parent_id: None,
    };
    let t = s.insert_token(&personal, 10).await.unwrap();
    assert_eq!(
        (
            t.kind,
            t.scopes,
            t.note.as_str(),
            t.created_at,
            t.expires_at
        ),
        (TokenKind::Personal, scopes, "laptop", 10, Some(1000))
    );
    assert!(t.is_live(999) && !t.is_live(1000), "expires at expires_at");
    let err = s.insert_token(&personal, 11).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("token")), "{err:?}");
    let repo_token = NewToken {
        hash: "h2",
        kind: TokenKind::Repository,
        user_id: None,
        repo_id: Some(repo.id),
        scopes: Scopes::none(),
        expires_at: None,
        // Made with the personal token: revoked with it.
        parent_id: Some(t.id),
        ..personal.clone()
    };
    let rt = s.insert_token(&repo_token, 12).await.unwrap();
    assert_eq!(
        s.token_by_hash("h2").await.unwrap().unwrap().repo_id,
        Some(repo.id)
    );
    assert!(s.token_by_hash("nope").await.unwrap().is_none());
    assert_eq!(s.personal_tokens(u.id).await.unwrap().len(), 1);
    assert_eq!(s.repository_tokens(repo.id).await.unwrap()[0].id, rt.id);
    assert!(s.revoke_token(t.id, 20).await.unwrap());
    assert!(
        !s.revoke_token(t.id, 21).await.unwrap(),
        "revoking twice reports it"
    );
    let revoked = s.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(20));
    assert!(
        s.repository_tokens(repo.id).await.unwrap().is_empty(),
        "a token made with a revoked token is revoked with it"
    );
    assert_eq!(
        s.token_by_hash("h2").await.unwrap().unwrap().revoked_at,
        Some(20)
    );
    assert!(!revoked.is_live(30));
    assert!(s.personal_tokens(u.id).await.unwrap().is_empty());
    let e = s
        .insert_environment_token("e1", u.id, repo.id, "env-1", 10, 100)
        .await
        .unwrap();
    assert!(e.is_live(99) && !e.is_live(100));
    assert_eq!(
        s.environment_token_by_hash("e1")
            .await
            .unwrap()
            .unwrap()
            .repo_id,
        repo.id
    );
    assert_eq!(s.revoke_environment_tokens("env-1", 50).await.unwrap(), 1);
    assert!(
        !s.environment_token_by_hash("e1")
            .await
            .unwrap()
            .unwrap()
            .is_live(60)
    );
    // A personal token must name a user: the schema refuses a half-formed row.
    let orphan = NewToken {
        hash: "h3",
        user_id: None,
        ..personal
    };
    assert!(s.insert_token(&orphan, 1).await.is_err());
}

async fn registry_metadata_round_trips(s: &Store) {
    use berth_domain::oci::Digest;
    use berth_store::{NewManifest, NewPackage, PackageKind};
    let d = |c: char| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
    let owner = user(s, "reg").await;
    let p = published(s, &owner, PackageKind::Container, "app/cli", 2).await;
    let again = s
        .create_package(
            &NewPackage {
                owner_id: owner.id,
                kind: PackageKind::Container,
                name: "app/cli",
                visibility: Visibility::Public,
                publisher_id: None,
                source: berth_store::PackageSource::default(),
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        (again.id, again.visibility),
        (p.id, Visibility::Private),
        "creating twice returns the first"
    );
    let repo = s
        .create_repo(owner.id, private_fields(&name("src")), None, 3)
        .await
        .unwrap();
    let linked = s
        .create_package(
            &NewPackage {
                owner_id: owner.id,
                kind: PackageKind::Container,
                name: "linked",
                visibility: Visibility::Private,
                publisher_id: None,
                source: berth_store::PackageSource {
                    repo_id: Some(repo.id),
                    inherit: true,
                },
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        (linked.source_repo_id, linked.inherit, linked.publisher_id),
        (Some(repo.id), true, None)
    );
    s.set_package_source(
        linked.id,
        berth_store::PackageSource {
            repo_id: None,
            inherit: false,
        },
        4,
    )
    .await
    .unwrap();
    let unlinked = s.package_by_id(linked.id).await.unwrap().unwrap();
    assert_eq!((unlinked.source_repo_id, unlinked.inherit), (None, false));
    s.set_package_visibility(p.id, Visibility::Public, 4)
        .await
        .unwrap();
    assert_eq!(
        s.package_by_id(p.id).await.unwrap().unwrap().visibility,
        Visibility::Public
    );

    s.insert_upload("u1", "reg/app/cli", 5).await.unwrap();
    assert!(s.advance_upload("u1", 0, 10, 6).await.unwrap());
    assert!(
        !s.advance_upload("u1", 0, 20, 7).await.unwrap(),
        "a stale offset does not move the upload"
    );
    assert_eq!(s.upload("u1").await.unwrap().unwrap().size, 10);
    assert!(s.delete_upload("u1").await.unwrap());
    assert!(s.upload("u1").await.unwrap().is_none());

    s.add_blob(p.id, &d('a'), 10, 8).await.unwrap();
    s.add_blob(p.id, &d('a'), 10, 9).await.unwrap();
    assert_eq!(s.package_blob_size(p.id, &d('a')).await.unwrap(), Some(10));
    assert_eq!(s.blob_size(&d('a')).await.unwrap(), Some(10));
    assert_eq!(s.packages_with_blob(&d('a')).await.unwrap(), vec![p.id]);

    let (subject, manifest_digest, layer) = (d('5'), d('e'), d('a'));
    let m = NewManifest {
        digest: &manifest_digest,
        media_type: "application/vnd.oci.image.manifest.v1+json",
        artifact_type: Some("application/x.sig"),
        subject: Some(&subject),
        annotations: Some(r#"{"k":"v"}"#),
        body: "{}",
        refs: vec![&layer],
        blobs: vec![&layer],
    };
    assert_eq!(
        s.put_manifest(p.id, &m, &["v1"], 10).await.unwrap(),
        berth_store::ManifestPut::Stored
    );
    s.put_manifest(p.id, &m, &["v2"], 11).await.unwrap();
    let gone = d('9');
    let needs_gone = NewManifest {
        digest: &d('8'),
        blobs: vec![&layer, &gone],
        ..m.clone()
    };
    assert_eq!(
        s.put_manifest(p.id, &needs_gone, &["v3"], 12)
            .await
            .unwrap(),
        berth_store::ManifestPut::BlobGone(gone.clone()),
        "a blob the package no longer has"
    );
    assert_eq!(s.tag(p.id, "v3").await.unwrap(), None, "nothing was stored");
    assert_eq!(s.tag(p.id, "v2").await.unwrap(), Some(d('e')));
    assert_eq!(s.manifest(p.id, &d('e')).await.unwrap().unwrap().body, "{}");
    assert_eq!(s.tags(p.id, None, 10).await.unwrap(), ["v1", "v2"]);
    assert_eq!(s.tags(p.id, Some("v1"), 10).await.unwrap(), ["v2"]);
    assert_eq!(s.referrers(p.id, &subject, None).await.unwrap().len(), 1);
    assert_eq!(
        s.referrers(p.id, &subject, Some("application/x.sig"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.referrers(p.id, &subject, Some("application/x.other"))
            .await
            .unwrap()
            .is_empty()
    );
    let versions = s.versions(p.id, false).await.unwrap();
    assert_eq!(
        (versions.len(), versions[0].tags.clone()),
        (1, vec!["v1".to_owned(), "v2".to_owned()])
    );
    let id = versions[0].id;
    assert!(s.soft_delete_version(p.id, id, 12).await.unwrap());
    assert!(
        s.manifest(p.id, &manifest_digest).await.unwrap().is_none(),
        "a deleted version's manifest is hidden"
    );
    assert!(
        s.tag(p.id, "v1").await.unwrap().is_none(),
        "and its tags removed"
    );
    assert_eq!(
        s.versions(p.id, true).await.unwrap()[0].tags,
        ["v1", "v2"],
        "but remembered"
    );
    assert!(s.versions(p.id, false).await.unwrap().is_empty());
    assert!(s.restore_version(p.id, id, 13).await.unwrap());
    assert!(
        !s.restore_version(p.id, id, 13).await.unwrap(),
        "restoring twice reports it"
    );
    assert_eq!(
        s.tag(p.id, "v1").await.unwrap(),
        Some(manifest_digest.clone()),
        "restored with its tags"
    );
    assert!(s.manifest(p.id, &manifest_digest).await.unwrap().is_some());
    assert!(s.delete_tag(p.id, "v1").await.unwrap());
    assert!(s.delete_manifest(p.id, &d('e')).await.unwrap());
    assert!(
        s.tag(p.id, "v2").await.unwrap().is_none(),
        "tags go with their manifest"
    );
    assert!(s.unlink_blob(p.id, &d('a')).await.unwrap());
    assert!(s.package_blob_size(p.id, &d('a')).await.unwrap().is_none());
}

async fn package_grants_are_set_listed_and_cleared(s: &Store) {
    use berth_store::{NewPackage, PackageKind, PackageSource, RepoGrant};
    let owner = user(s, "gowner").await;
    let user = user(s, "guser").await;
    let repo = private_repo(s, owner.id, "ci").await;
    let new = NewPackage {
        owner_id: owner.id,
        kind: PackageKind::Container,
        name: "img",
        visibility: Visibility::Private,
        publisher_id: None,
        source: PackageSource::default(),
    };
    let p = s.create_package(&new, 1).await.unwrap();
    s.grant(Grants::PackageUsers, p.id, user.id, Permission::Read)
        .await
        .unwrap();
    s.grant(Grants::PackageUsers, p.id, user.id, Permission::Write)
        .await
        .unwrap();
    assert_eq!(
        s.granted(Grants::PackageUsers, p.id, user.id)
            .await
            .unwrap(),
        Some(Permission::Write)
    );
    assert_eq!(
        s.user_grants(p.id).await.unwrap(),
        vec![("guser".to_owned(), Permission::Write)]
    );
    let g = RepoGrant {
        environments: true,
        token_role: Some(Permission::Read),
    };
    s.set_repo_grant(p.id, repo.id, g).await.unwrap();
    assert_eq!(s.repo_grant(p.id, repo.id).await.unwrap(), g);
    assert_eq!(
        s.repo_grants(p.id).await.unwrap(),
        vec![("gowner/ci".to_owned(), g)]
    );
    s.set_repo_grant(p.id, repo.id, RepoGrant::default())
        .await
        .unwrap();
    assert!(
        s.repo_grants(p.id).await.unwrap().is_empty(),
        "a grant of nothing is no grant"
    );
    let org = s
        .create_account(&login("gorg"), AccountKind::Organization, false, 1)
        .await
        .unwrap();
    assert!(s.org_auto_inherit(org.id).await.unwrap(), "on by default");
    s.set_org_auto_inherit(org.id, false).await.unwrap();
    assert!(!s.org_auto_inherit(org.id).await.unwrap());
    s.revoke_all(Grants::PackageUsers, p.id).await.unwrap();
    assert_eq!(
        s.granted(Grants::PackageUsers, p.id, user.id)
            .await
            .unwrap(),
        None
    );
    assert!(!s.revoke(Grants::PackageUsers, p.id, user.id).await.unwrap());
    assert!(s.delete_package(p.id).await.unwrap());
    assert!(s.package_by_id(p.id).await.unwrap().is_none());
    assert!(!s.delete_package(p.id).await.unwrap());
}

async fn ssh_keys_belong_to_one_account_and_stay_under_the_limit(s: &Store) {
    use berth_store::NewSshKey;
    let ann = user(s, "key-ann").await;
    let ben = user(s, "key-ben").await;
    let key = |user_id, n: usize| {
        let fingerprint = format!("SHA256:key-{n}");
        (user_id, fingerprint)
    };
    const MAX: usize = 5;
    // Writers of one account race; the limit holds, each fingerprint is stored once.
    let writers: Vec<_> = (0..12)
        .map(|n| {
            let s = s.clone();
            let (user_id, fingerprint) = key(ann.id, n);
            tokio::spawn(async move {
                let new = NewSshKey {
                    user_id,
                    title: "t",
                    key: "ssh-ed25519 AAAA",
                    fingerprint: &fingerprint,
                };
                s.add_ssh_key(new, MAX, 10).await.unwrap()
            })
        })
        .collect();
    let mut added = 0;
    for w in writers {
        added += usize::from(w.await.unwrap().is_some());
    }
    assert_eq!(added, MAX);
    let held = s.ssh_keys(ann.id).await.unwrap();
    assert_eq!(held.len(), MAX);
    // A key another account holds is a conflict.
    let taken = NewSshKey {
        user_id: ben.id,
        title: "t",
        key: "ssh-ed25519 AAAA",
        fingerprint: &held[0].fingerprint,
    };
    let err = s.add_ssh_key(taken, MAX, 11).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("key")), "{err:?}");
    let found = s
        .ssh_key_by_fingerprint(&held[0].fingerprint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, held[0]);
    assert!(s.ssh_key(ben.id, held[0].id).await.unwrap().is_none());
    assert!(!s.delete_ssh_key(ben.id, held[0].id).await.unwrap());
    assert!(s.delete_ssh_key(ann.id, held[0].id).await.unwrap());
    assert!(
        s.ssh_key_by_fingerprint(&held[0].fingerprint)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.ssh_keys(ann.id).await.unwrap().len(), MAX - 1);
}

/// Every check of the suite, each on a fresh database from `$open`.
macro_rules! suite {
    ($open:expr) => {{
        accounts_share_one_case_insensitive_namespace(&$open).await;
        membership_is_set_changed_listed_and_removed(&$open).await;
        repositories_come_with_the_callers_standing(&$open).await;
        tokens_are_found_by_hash_listed_and_revoked(&$open).await;
        registry_metadata_round_trips(&$open).await;
        package_grants_are_set_listed_and_cleared(&$open).await;
        collection_dooms_revives_and_buries_blobs(&$open).await;
        untagged_versions_go_unless_something_keeps_them(&$open).await;
        codespaces_move_through_states(&$open).await;
        the_secret_limit_holds_under_concurrent_writes(&$open).await;
        teams_hold_members_and_grant_packages_to_them(&$open).await;
        ssh_keys_belong_to_one_account_and_stay_under_the_limit(&$open).await;
        npm_versions_are_published_tagged_deprecated_and_unpublished(&$open).await;
        passwords_and_web_sessions_are_kept_and_revoked(&$open).await;
        sign_in_failures_are_counted_in_a_window_and_forgotten(&$open).await;
        one_server_leads_a_job_at_a_time(&$open).await;
    }};
}

async fn one_server_leads_a_job_at_a_time(s: &Store) {
    let lead = s.try_lead("job-a").await.unwrap();
    assert!(lead.is_some());
    let again = s.try_lead("job-a").await.unwrap();
    match s.backend() {
        // Servers share a PostgreSQL database: while one leads, no other does.
        berth_store::Backend::Postgres => assert!(again.is_none(), "two leaders"),
        // A SQLite database has one server.
        berth_store::Backend::Sqlite => assert!(again.is_some()),
    }
    assert!(s.try_lead("job-b").await.unwrap().is_some(), "another job");
    lead.unwrap().end().await.unwrap();
    drop(again);
    assert!(s.try_lead("job-a").await.unwrap().is_some(), "given back");
}

async fn sign_in_failures_are_counted_in_a_window_and_forgotten(s: &Store) {
    use berth_store::SignInFailures;
    let both = ["login:a".to_owned(), "client:1".to_owned()];
    for at in [100, 101, 102] {
        s.record_sign_in_failure(&both, at, at - 900).await.unwrap();
    }
    s.record_sign_in_failure(&["login:b".to_owned()], 103, 103 - 900)
        .await
        .unwrap();
    let seen = |count, oldest| SignInFailures { count, oldest };
    assert_eq!(
        s.sign_in_failures("login:a", 0).await.unwrap(),
        seen(3, Some(100))
    );
    assert_eq!(
        s.sign_in_failures("client:1", 100).await.unwrap(),
        seen(2, Some(101))
    );
    assert_eq!(
        s.sign_in_failures("login:b", 0).await.unwrap(),
        seen(1, Some(103))
    );
    assert_eq!(
        s.sign_in_failures("login:c", 0).await.unwrap(),
        seen(0, None)
    );
    // A failure past the window forgets the ones before it.
    s.record_sign_in_failure(&["client:2".to_owned()], 1_002, 102)
        .await
        .unwrap();
    assert_eq!(
        s.sign_in_failures("login:a", 0).await.unwrap(),
        seen(0, None)
    );
    assert_eq!(
        s.sign_in_failures("login:b", 0).await.unwrap(),
        seen(1, Some(103))
    );
}

async fn passwords_and_web_sessions_are_kept_and_revoked(s: &Store) {
    let ann = user(s, "web-ann").await;
    let ben = user(s, "web-ben").await;
    assert_eq!(s.password_hash(ann.id).await.unwrap(), None);
    assert!(
        s.set_password_hash(ann.id, Some("$argon2id$x"), 2)
            .await
            .unwrap()
    );
    assert_eq!(
        s.password_hash(ann.id).await.unwrap().as_deref(),
        Some("$argon2id$x")
    );
    assert!(!s.set_password_hash(9999, Some("x"), 2).await.unwrap());

    let one = s
        .create_web_session("hash-1", ann.id, "form-1", 10, 100)
        .await
        .unwrap();
    let two = s
        .create_web_session("hash-2", ann.id, "form-2", 11, 50)
        .await
        .unwrap();
    assert_eq!(
        s.web_session_by_hash("hash-1").await.unwrap(),
        Some(one.clone())
    );
    assert!(s.web_session_by_hash("hash-3").await.unwrap().is_none());
    assert!(one.is_live(99) && !one.is_live(100));
    let live = |now| async move {
        s.live_web_sessions(ann.id, now)
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(live(20).await, [two.id, one.id], "newest first");
    assert_eq!(live(60).await, [one.id], "expired ones are not live");
    s.touch_web_session(two.id, 40, 500).await.unwrap();
    assert_eq!(live(60).await, [two.id, one.id], "a use moves the expiry");
    assert!(
        !s.revoke_web_session(ben.id, one.id, 70).await.unwrap(),
        "another's"
    );
    assert!(s.revoke_web_session(ann.id, one.id, 70).await.unwrap());
    assert!(!s.revoke_web_session(ann.id, one.id, 71).await.unwrap());
    let revoked = s.web_session_by_hash("hash-1").await.unwrap().unwrap();
    assert!(!revoked.is_live(71));
    assert_eq!(live(72).await, [two.id]);
}

async fn npm_versions_are_published_tagged_deprecated_and_unpublished(s: &Store) {
    use berth_domain::oci::Digest;
    use berth_store::{NewNpmVersion, PackageKind};
    let d = |c: char| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
    let owner = user(s, "npmer").await;
    let p = published(s, &owner, PackageKind::Npm, "lib", 1).await;
    fn version<'a>(v: &'a str, tarball: &'a Digest, tags: &'a [&'a str]) -> NewNpmVersion<'a> {
        NewNpmVersion {
            version: v,
            manifest: r#"{"name":"@npmer/lib"}"#,
            tarball,
            size: 10,
            integrity: "sha512-x",
            shasum: "ab",
            tags,
        }
    }
    let (a, b) = (d('a'), d('b'));
    let (ta, tb) = (&a, &b);
    s.add_blob(p.id, ta, 10, 2).await.unwrap();
    s.add_blob(p.id, tb, 10, 2).await.unwrap();
    let one = s
        .publish_npm_version(p.id, &version("1.0.0", ta, &["latest"]), 3)
        .await
        .unwrap();
    assert_eq!((one.version.as_str(), &one.tarball), ("1.0.0", ta));
    s.publish_npm_version(p.id, &version("2.0.0-beta.1", tb, &["next"]), 4)
        .await
        .unwrap();
    let err = s
        .publish_npm_version(p.id, &version("1.0.0", tb, &[]), 5)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("npm version")),
        "{err:?}"
    );
    let listed: Vec<String> = s
        .npm_versions(p.id)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(listed, ["1.0.0", "2.0.0-beta.1"], "oldest first");
    let tags = |expected: &[(&str, &str)]| {
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(t, v)| ((*t).to_owned(), (*v).to_owned()))
            .collect();
        async move { assert_eq!(s.npm_dist_tags(p.id).await.unwrap(), expected) }
    };
    tags(&[("latest", "1.0.0"), ("next", "2.0.0-beta.1")]).await;
    assert!(
        s.set_npm_dist_tag(p.id, "latest", "2.0.0-beta.1", 6)
            .await
            .unwrap()
    );
    assert!(
        !s.set_npm_dist_tag(p.id, "old", "0.9.0", 6).await.unwrap(),
        "not published"
    );
    assert!(s.remove_npm_dist_tag(p.id, "next").await.unwrap());
    assert!(!s.remove_npm_dist_tag(p.id, "next").await.unwrap());
    tags(&[("latest", "2.0.0-beta.1")]).await;

    assert!(
        s.deprecate_npm_version(p.id, "1.0.0", Some("use 2"))
            .await
            .unwrap()
    );
    let v1 = s.npm_version(p.id, "1.0.0").await.unwrap().unwrap();
    assert_eq!(v1.deprecated.as_deref(), Some("use 2"));
    assert!(s.deprecate_npm_version(p.id, "1.0.0", None).await.unwrap());
    assert!(
        s.npm_version(p.id, "1.0.0")
            .await
            .unwrap()
            .unwrap()
            .deprecated
            .is_none()
    );

    // Unpublished: no longer served, its tags gone, its number taken for good, and its tarball
    // left to the collector while the other version's stays linked.
    assert!(
        s.unpublish_npm_version(p.id, "2.0.0-beta.1", 7)
            .await
            .unwrap()
    );
    assert!(
        !s.unpublish_npm_version(p.id, "2.0.0-beta.1", 7)
            .await
            .unwrap()
    );
    assert!(s.npm_version(p.id, "2.0.0-beta.1").await.unwrap().is_none());
    tags(&[]).await;
    assert!(matches!(
        s.publish_npm_version(p.id, &version("2.0.0-beta.1", tb, &[]), 8)
            .await,
        Err(StoreError::Conflict("npm version"))
    ));
    assert_eq!(s.unlink_unreferenced_blobs(100).await.unwrap(), 1);
    assert!(s.package_blob_size(p.id, ta).await.unwrap().is_some());
    assert!(s.package_blob_size(p.id, tb).await.unwrap().is_none());

    // As the packages API lists them: live ones with their tags, unpublished ones apart; an
    // unpublished one restored is served again, without its old tags.
    let records = |deleted: bool| async move {
        s.npm_version_records(p.id, deleted, None)
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.name, v.tags, v.deleted_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(records(false).await, [("1.0.0".to_owned(), vec![], None)]);
    let gone = s.npm_version_records(p.id, true, None).await.unwrap();
    assert_eq!(
        (gone[0].name.as_str(), gone[0].deleted_at),
        ("2.0.0-beta.1", Some(7))
    );
    assert!(s.restore_npm_version(p.id, gone[0].id).await.unwrap());
    assert!(!s.restore_npm_version(p.id, gone[0].id).await.unwrap());
    assert!(s.npm_version(p.id, "2.0.0-beta.1").await.unwrap().is_some());
    assert_eq!(
        s.npm_version_records(p.id, false, Some(one.id))
            .await
            .unwrap()
            .len(),
        1
    );
    let npm_packages = s.packages_of_kind(PackageKind::Npm).await.unwrap();
    assert!(npm_packages.iter().any(|q| q.id == p.id));
    assert!(
        s.packages_of_kind(PackageKind::Container)
            .await
            .unwrap()
            .iter()
            .all(|q| q.id != p.id)
    );
}

async fn teams_hold_members_and_grant_packages_to_them(s: &Store) {
    use berth_domain::teams::{TeamName, TeamPrivacy, TeamRole};
    use berth_store::{NewPackage, PackageKind, PackageSource, TeamFields};
    let org = s
        .create_account(&login("team-org"), AccountKind::Organization, false, 1)
        .await
        .unwrap();
    let other_org = s
        .create_account(&login("team-other"), AccountKind::Organization, false, 1)
        .await
        .unwrap();
    let ann = user(s, "team-ann").await;
    let ben = user(s, "team-ben").await;
    for (o, u) in [(org.id, ann.id), (org.id, ben.id), (other_org.id, ben.id)] {
        s.set_membership(o, u, OrgRole::Member).await.unwrap();
    }
    let name = TeamName::parse("Platform Team").unwrap();
    let fields = TeamFields {
        name: &name,
        description: Some("runs things"),
        privacy: TeamPrivacy::Closed,
    };
    let team = s
        .create_team(org.id, fields, Some(ann.id), 5)
        .await
        .unwrap();
    assert_eq!(
        (team.slug.as_str(), team.name.as_str()),
        ("platform-team", "Platform Team")
    );
    let err = s.create_team(org.id, fields, None, 6).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("team")), "{err:?}");
    // The same slug in another organization is another team.
    let elsewhere = s.create_team(other_org.id, fields, None, 6).await.unwrap();
    assert_eq!(
        s.team_membership(team.id, ann.id).await.unwrap(),
        Some(TeamRole::Maintainer),
        "the creator maintains it"
    );
    s.set_team_membership(team.id, ben.id, TeamRole::Member)
        .await
        .unwrap();
    s.set_team_membership(elsewhere.id, ben.id, TeamRole::Member)
        .await
        .unwrap();
    let members: Vec<(String, TeamRole)> = s
        .team_members(team.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(a, r)| (a.login.to_string(), r))
        .collect();
    assert_eq!(
        members,
        [
            ("team-ann".to_owned(), TeamRole::Maintainer),
            ("team-ben".to_owned(), TeamRole::Member)
        ]
    );
    let listed = s.teams_of_org(org.id, ben.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, Some(TeamRole::Member));

    let package = |owner_id| NewPackage {
        owner_id,
        kind: PackageKind::Container,
        name: "team-img",
        visibility: Visibility::Private,
        publisher_id: None,
        source: PackageSource::default(),
    };
    let p = s.create_package(&package(org.id), 1).await.unwrap();
    let foreign = s.create_package(&package(other_org.id), 1).await.unwrap();
    s.grant(Grants::PackageTeams, p.id, team.id, Permission::Write)
        .await
        .unwrap();
    // A grant naming a team of another organization gives nothing (the service never makes one).
    s.grant(Grants::PackageTeams, p.id, elsewhere.id, Permission::Admin)
        .await
        .unwrap();
    assert_eq!(
        s.user_team_grant(p.id, ben.id).await.unwrap(),
        Some(Permission::Write)
    );
    assert_eq!(s.user_team_grant(foreign.id, ben.id).await.unwrap(), None);
    assert_eq!(
        s.team_grants(p.id)
            .await
            .unwrap()
            .into_iter()
            .map(|(t, r)| (t.to_string(), r))
            .collect::<Vec<_>>(),
        [
            ("platform-team".to_owned(), Permission::Write),
            ("platform-team".to_owned(), Permission::Admin)
        ]
    );
    // Leaving the organization leaves its teams, and their grants with them.
    assert!(s.remove_membership(org.id, ben.id).await.unwrap());
    assert_eq!(s.team_membership(team.id, ben.id).await.unwrap(), None);
    assert_eq!(s.user_team_grant(p.id, ben.id).await.unwrap(), None);
    assert_eq!(
        s.team_membership(elsewhere.id, ben.id).await.unwrap(),
        Some(TeamRole::Member),
        "other organizations' teams are untouched"
    );
    s.revoke_all(Grants::PackageTeams, p.id).await.unwrap();
    assert!(s.team_grants(p.id).await.unwrap().is_empty());
    assert!(s.delete_team(team.id).await.unwrap());
    assert!(s.team_by_slug(org.id, &team.slug).await.unwrap().is_none());
}

/// Many writers at once, each adding a secret to a scope that has room for only some of them
/// (and some writing the same name): exactly `max` exist afterwards, every other writer is told
/// the scope is full, and no writer meets a database error.
async fn the_secret_limit_holds_under_concurrent_writes(s: &Store) {
    use berth_domain::secrets::{SecretLevel, SecretName};
    use berth_store::{Envelope, NewSecret, PutSecret, SecretScope};
    let owner = user(s, "many-secrets").await;
    let scope = SecretScope {
        level: SecretLevel::User,
        id: owner.id,
    };
    const MAX: usize = 5;
    let writers: Vec<_> = (0..24)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                // Every third writer repeats an earlier name: created once, then updated.
                let name =
                    SecretName::parse(&format!("S_{}", if i % 3 == 0 { 0 } else { i })).unwrap();
                s.put_secret(
                    &NewSecret {
                        scope,
                        name: &name,
                        visibility: None,
                        value: Envelope {
                            ciphertext: format!("c{i}"),
                            wrapped_key: "k".into(),
                            master_key_id: "m".into(),
                        },
                        selected: None,
                        actor_id: owner.id,
                    },
                    MAX,
                    10 + i,
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    for w in writers {
        match w.await.unwrap().expect("no writer meets a database error") {
            Some(PutSecret::Created) => created += 1,
            Some(PutSecret::Updated) | None => {}
        }
    }
    assert_eq!(created, MAX);
    assert_eq!(s.secrets(scope).await.unwrap().len(), MAX);
}

async fn collection_dooms_revives_and_buries_blobs(s: &Store) {
    use berth_domain::oci::Digest;
    use berth_store::PackageKind;
    let d = |c: char| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
    let owner = user(s, "gc").await;
    let p = published(s, &owner, PackageKind::Container, "gc", 2).await;
    s.add_blob(p.id, &d('a'), 10, 100).await.unwrap();
    s.pin_blob(&d('b'), 20, 100).await.unwrap();
    s.pin_blob(&d('c'), 30, 500).await.unwrap();
    assert_eq!(
        s.unlink_unreferenced_blobs(50).await.unwrap(),
        0,
        "a link newer than the cutoff stays"
    );
    let cutoffs = |at| berth_store::CollectCutoffs {
        versions: at,
        blobs: at,
        uploads: at,
        untagged: None,
    };
    let preview = berth_store::CollectPreview {
        links: 1,
        blobs: 2,
        bytes: 30,
        ..Default::default()
    };
    assert_eq!(
        s.collect_preview(cutoffs(200)).await.unwrap(),
        preview,
        "a's link and a and b would go"
    );
    assert_eq!(s.unlink_unreferenced_blobs(200).await.unwrap(), 1);
    let doomed = s.doom_blobs(200, 300, 10).await.unwrap();
    let mut digests: Vec<&str> = doomed.iter().map(|b| b.digest.as_str()).collect();
    digests.sort_unstable();
    assert_eq!(
        digests,
        [d('a').as_str(), d('b').as_str()],
        "unlinked and pinned before the cutoff; c was pinned after it"
    );
    assert!(s.doom_blobs(200, 300, 10).await.unwrap().is_empty());
    assert_eq!(
        s.abandoned_doomed_blobs(400).await.unwrap().len(),
        2,
        "a pass that stopped leaves them for the next"
    );
    s.add_blob(p.id, &d('a'), 10, 310).await.unwrap();
    assert!(
        !s.bury_blob(d('a').as_str()).await.unwrap(),
        "revived by a push"
    );
    assert!(s.bury_blob(d('b').as_str()).await.unwrap());
    assert_eq!(s.blob_size(&d('a')).await.unwrap(), Some(10));
    assert_eq!(s.blob_size(&d('b')).await.unwrap(), None);

    s.insert_upload("old", "gc/gc", 10).await.unwrap();
    s.insert_upload("new", "gc/gc", 1000).await.unwrap();
    assert_eq!(s.stale_uploads(500).await.unwrap(), ["old"]);
    assert!(s.expire_upload("old", 500).await.unwrap());
    assert!(!s.expire_upload("new", 500).await.unwrap());
}

async fn untagged_versions_go_unless_something_keeps_them(s: &Store) {
    use berth_domain::oci::Digest;
    use berth_store::{NewManifest, PackageKind};
    let d = |c: char| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
    let owner = user(s, "untagged").await;
    let p = published(s, &owner, PackageKind::Container, "ut", 1).await;
    let layer = d('a');
    s.add_blob(p.id, &layer, 10, 5).await.unwrap();
    let (tagged, by_digest, index, child, multi, kept_child, sig, orphan_sig, young) = (
        d('1'),
        d('2'),
        d('3'),
        d('4'),
        d('5'),
        d('6'),
        d('7'),
        d('8'),
        d('b'),
    );
    let image = |digest| NewManifest {
        digest,
        media_type: "application/vnd.oci.image.manifest.v1+json",
        artifact_type: None,
        subject: None,
        annotations: None,
        body: "{}",
        refs: vec![&layer],
        blobs: vec![&layer],
    };
    let index_of = |digest, child| NewManifest {
        media_type: "application/vnd.oci.image.index.v1+json",
        refs: vec![child],
        blobs: vec![],
        ..image(digest)
    };
    let subject_gone = d('9');
    let put = [
        (image(&tagged), &["latest"][..], 10),
        (image(&by_digest), &[][..], 10),
        (image(&child), &[][..], 10),
        (index_of(&index, &child), &[][..], 10),
        (image(&kept_child), &[][..], 10),
        (index_of(&multi, &kept_child), &["multi"][..], 10),
        (
            NewManifest {
                subject: Some(&tagged),
                ..image(&sig)
            },
            &[][..],
            10,
        ),
        (
            NewManifest {
                subject: Some(&subject_gone),
                ..image(&orphan_sig)
            },
            &[][..],
            10,
        ),
        (image(&young), &[][..], 100),
    ];
    for (m, tags, at) in put {
        s.put_manifest(p.id, &m, tags, at).await.unwrap();
    }
    let cutoffs = berth_store::CollectCutoffs {
        versions: 0,
        blobs: 0,
        uploads: 0,
        untagged: Some(50),
    };
    assert_eq!(
        s.collect_preview(cutoffs).await.unwrap().untagged,
        3,
        "by digest, the untagged index and the signature of nothing; the index's image after it"
    );
    assert_eq!(s.delete_untagged_versions(50, 60).await.unwrap(), 4);
    let here = |digest: Digest| async move { s.manifest(p.id, &digest).await.unwrap().is_some() };
    for (digest, kept, why) in [
        (d('2'), false, "pushed by digest alone"),
        (d('3'), false, "an untagged index"),
        (d('4'), false, "the image only that index kept"),
        (d('8'), false, "a referrer whose subject is not there"),
        (d('1'), true, "tagged"),
        (d('5'), true, "a tagged index"),
        (d('6'), true, "an image of a tagged index"),
        (d('7'), true, "a referrer of a live manifest"),
        (d('b'), true, "pushed after the cutoff"),
    ] {
        assert_eq!(here(digest).await, kept, "{why}");
    }
    assert_eq!(s.delete_untagged_versions(50, 61).await.unwrap(), 0);
    // Deleted softly: pushing it again (with a tag) makes it live again.
    let (again, its_child) = (d('3'), d('4'));
    s.put_manifest(p.id, &index_of(&again, &its_child), &["back"], 70)
        .await
        .unwrap();
    assert!(here(d('3')).await);
}

async fn codespaces_move_through_states(s: &Store) {
    use berth_domain::codespace::CodespaceState::*;
    use berth_store::NewCodespace;
    let owner = user(s, "cs").await;
    let repo = private_repo(s, owner.id, "web").await;
    let new = |n: &'static str, uid_base: u32| NewCodespace {
        name: n,
        owner_id: owner.id,
        repo_id: repo.id,
        display_name: "web",
        git_ref: Some("main"),
        image: None,
        devcontainer_path: Some(".devcontainer/alt/devcontainer.json"),
        runtime: "runc",
        machine: "basicLinux",
        uid_base,
        replica: "one",
    };
    let a = s
        .insert_codespace(&new("cs-web-a", 1 << 30), 10)
        .await
        .unwrap();
    assert_eq!(
        (
            a.state,
            a.initialized,
            a.created_at,
            a.uid_base,
            a.machine.as_str(),
            a.devcontainer_path.as_deref()
        ),
        (
            Queued,
            false,
            10,
            Some(1 << 30),
            "basicLinux",
            Some(".devcontainer/alt/devcontainer.json")
        )
    );
    let err = s
        .insert_codespace(&new("cs-web-a", 2 << 30), 11)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("codespace")), "{err:?}");
    let err = s
        .insert_codespace(&new("cs-web-c", 1 << 30), 11)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("codespace")),
        "two environments never share an id range: {err:?}"
    );
    let on_two = NewCodespace {
        replica: "two",
        ..new("cs-web-b", (1 << 30) + 65_536)
    };
    s.insert_codespace(&on_two, 12).await.unwrap();
    let mut bases = s.codespace_uid_bases().await.unwrap();
    bases.sort_unstable();
    assert_eq!(bases, [1 << 30, (1 << 30) + 65_536]);
    assert!(
        s.set_codespace_state("cs-web-a", &[Queued], Provisioning, None, 13)
            .await
            .unwrap()
    );
    assert!(
        !s.set_codespace_state("cs-web-a", &[Queued], Starting, None, 14)
            .await
            .unwrap(),
        "only from the states named"
    );
    assert!(
        s.set_codespace_state("cs-web-a", &[], Failed, Some("no image"), 15)
            .await
            .unwrap()
    );
    s.mark_codespace_initialized("cs-web-a", 16).await.unwrap();
    let a = s.codespace_by_name("cs-web-a").await.unwrap().unwrap();
    assert_eq!(
        (a.state, a.state_reason.as_deref(), a.initialized),
        (Failed, Some("no image"), true)
    );
    let list = s
        .list_codespaces(
            owner.id,
            Window {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(list.total, 2);
    assert_eq!(list.items[0].name, "cs-web-b", "newest first");
    assert_eq!(list.items[0].replica, "two");
    let queued = |replica: &'static str| async move {
        let found = s.codespaces_in_states(replica, &[Queued]).await.unwrap();
        found.into_iter().map(|c| c.name).collect::<Vec<_>>()
    };
    assert_eq!(queued("two").await, ["cs-web-b"]);
    assert!(queued("one").await.is_empty(), "only the replica's own");

    // Replicas: where each is reached; what none runs is taken by the first to ask.
    assert_eq!(s.replica("two").await.unwrap(), None);
    s.register_replica("two", "http://127.0.0.1:1", "", 18)
        .await
        .unwrap();
    s.register_replica("two", "http://127.0.0.1:2", "127.0.0.1:22", 19)
        .await
        .unwrap();
    assert_eq!(
        s.replica("two").await.unwrap(),
        Some(berth_store::ReplicaRecord {
            address: "http://127.0.0.1:2".into(),
            ssh_address: "127.0.0.1:22".into()
        })
    );
    let from_before = NewCodespace {
        replica: "",
        ..new("cs-web-d", (1 << 30) + 2 * 65_536)
    };
    s.insert_codespace(&from_before, 18).await.unwrap();
    assert_eq!(s.adopt_unplaced_codespaces("one").await.unwrap(), 1);
    assert_eq!(queued("one").await, ["cs-web-d"]);
    assert_eq!(s.adopt_unplaced_codespaces("two").await.unwrap(), 0);
    s.set_codespace_state("cs-web-b", &[], Deleted, None, 17)
        .await
        .unwrap();
    assert_eq!(
        s.list_codespaces(
            owner.id,
            Window {
                limit: 10,
                offset: 0
            }
        )
        .await
        .unwrap()
        .total,
        2,
        "cs-web-a and cs-web-d"
    );
    assert!(s.delete_codespace("cs-web-a").await.unwrap());
    assert!(s.codespace_by_name("cs-web-a").await.unwrap().is_none());
}

async fn sqlite(dir: &tempfile::TempDir) -> Store {
    let path = dir.path().join(format!(
        "{}.db",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let store = Store::connect(&Store::sqlite_url(&path)).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store
}

async fn postgres(server: &str) -> Store {
    let store = Store::connect(&testing::fresh_postgres_database(server).await)
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    store
}

#[tokio::test]
async fn store_suite_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    suite!(sqlite(&dir).await);
}

#[tokio::test]
async fn store_suite_on_postgres() {
    let Some(server) = testing::postgres_server() else {
        return;
    };
    suite!(postgres(&server).await);
}

#[tokio::test]
async fn data_survives_a_restart_and_migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = Store::sqlite_url(&dir.path().join("berth.db"));
    let s = Store::connect(&url).await.unwrap();
    user(&s, "keep").await;
    s.close().await;
    let s = Store::connect(&url).await.unwrap();
    assert!(s.account_by_login(&login("keep")).await.unwrap().is_some());
}

#[tokio::test]
async fn unknown_database_schemes_are_refused_by_name() {
    let err = Store::connect("mysql://localhost/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("sqlite: or postgres:"), "{err}");
}

/// Two servers' stores on one fresh PostgreSQL database whose sessions take `settings`, and a
/// connection of the test's own to it, to act as its administrator.
async fn shared_postgres(
    server: &str,
    settings: &[(&str, &str)],
) -> (Store, Store, sqlx::PgConnection) {
    use sqlx::Connection;
    let url = testing::fresh_postgres_database(server).await;
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    for (name, value) in settings {
        sqlx::query(&format!(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET {name} = ''{value}''', \
             current_database()); END $$"
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    (
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
        admin,
    )
}

/// The test database, in `pg_locks` (which shows every database's locks).
const THIS_DATABASE: &str = "(SELECT oid FROM pg_database WHERE datname = current_database())";

/// Ends the database session holding a claim, as a database restart or a broken network would;
/// its process id.
async fn end_claim_session(admin: &mut sqlx::PgConnection) -> i32 {
    let ended: Vec<(i32, bool)> = sqlx::query_as(&format!(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND database = {THIS_DATABASE}",
    ))
    .fetch_all(admin)
    .await
    .unwrap();
    assert!(
        matches!(ended[..], [(_, true)]),
        "one session holds the claim"
    );
    ended[0].0
}

/// `replica:a` claimed on `store` (checked every `check`) as soon as it is free, if that is
/// within `limit`.
async fn claim_when_free(
    store: &Store,
    check: std::time::Duration,
    limit: std::time::Duration,
) -> Result<berth_store::Claim, tokio::time::error::Elapsed> {
    let free = async {
        loop {
            if let Some(claim) = store.claim("replica:a", check).await.unwrap() {
                return claim;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(limit, free).await
}

const LONG: std::time::Duration = std::time::Duration::from_secs(3600);

#[tokio::test]
async fn a_claim_outlasts_the_databases_idle_session_timeout() {
    let Some(server) = testing::postgres_server() else {
        return;
    };
    // As an operator may set it: idle sessions are ended after 200 ms.
    let (a, b, _admin) = shared_postgres(&server, &[("idle_session_timeout", "200ms")]).await;
    let claim = a.claim("replica:a", LONG).await.unwrap();
    assert!(claim.is_some());
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        b.claim("replica:a", LONG).await.unwrap().is_none(),
        "an idle claim is still held"
    );
    assert!(b.claim("replica:b", LONG).await.unwrap().is_some());
}

#[tokio::test]
async fn a_claim_whose_connection_is_lost_is_taken_again_or_said_lost() {
    let Some(server) = testing::postgres_server() else {
        return;
    };
    let (a, b, mut admin) = shared_postgres(&server, &[]).await;
    let every = std::time::Duration::from_millis(100);
    // Long enough for the other server to take it first.
    const AFTER_TAKEOVER: std::time::Duration = std::time::Duration::from_secs(2);

    // Nobody else wants it: the claim is taken again on a new connection.
    let mut claim = a.claim("replica:a", every).await.unwrap().unwrap();
    let ended = end_claim_session(&mut admin).await;
    let retaken = async {
        loop {
            tokio::time::sleep(every).await;
            let held: Vec<(i32,)> = sqlx::query_as(&format!(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND database = {THIS_DATABASE} AND pid <> $1",
            ))
            .bind(ended)
            .fetch_all(&mut admin)
            .await
            .unwrap();
            if !held.is_empty() {
                return;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), retaken)
        .await
        .expect("the claim is taken again");
    assert!(b.claim("replica:a", LONG).await.unwrap().is_none());
    let lost = tokio::time::timeout(std::time::Duration::from_millis(500), claim.lost()).await;
    assert!(lost.is_err(), "a claim taken again is not lost");
    drop(claim);

    // Another server takes it while the connection is down: the claim says it is lost.
    let mut claim = claim_when_free(&a, AFTER_TAKEOVER, std::time::Duration::from_secs(10))
        .await
        .expect("a dropped claim is given back");
    end_claim_session(&mut admin).await;
    let _theirs = claim_when_free(&b, LONG, std::time::Duration::from_secs(1))
        .await
        .expect("the other server takes the claim before this one looks again");
    tokio::time::timeout(std::time::Duration::from_secs(20), claim.lost())
        .await
        .expect("the claim says it is lost");
}
