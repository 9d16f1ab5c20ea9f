//! Who an environment's processes run as: a user spec (`name`, `uid`, `name:group`, `uid:gid`)
//! looked up in the image's `/etc/passwd` and `/etc/group`, as Docker and runc-based tools do.

use crate::UserIds;

/// Looks `spec` up in the image's files. `None` spec means root. A numeric uid absent from
/// `passwd` is allowed (gid 0 unless given, home `/`), as Docker allows it; an unknown name is not.
pub fn resolve_user(spec: Option<&str>, passwd: &str, group: &str) -> Result<UserIds, String> {
    let spec = spec
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("root");
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let found = entries
        .iter()
        .find(|f| f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user));
    let (uid, mut gid, home) = match (found, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .map_err(|_| format!("the image's /etc/passwd has a bad uid for {user}"))?,
            f[3].parse::<u32>()
                .map_err(|_| format!("the image's /etc/passwd has a bad gid for {user}"))?,
            f[5].to_owned(),
        ),
        (None, Ok(uid)) => (uid, 0, if uid == 0 { "/root" } else { "/" }.to_owned()),
        (None, Err(_)) if user == "root" => (0, 0, "/root".to_owned()),
        (None, Err(_)) => {
            return Err(format!(
                "user {user} is not in the image's /etc/passwd; set remoteUser to a user the image has, or to a uid"
            ));
        }
    };
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| format!("group {g} is not in the image's /etc/group"))?,
        };
    }
    let home = if home.is_empty() {
        "/".to_owned()
    } else {
        home
    };
    Ok(UserIds {
        uid,
        gid,
        home,
        host_uid: uid,
        host_gid: gid,
    })
}

/// Hands a tree to `ids` (what is mounted into an environment for its user), never following a
/// symlink. Called only while nothing runs in the environment, so nobody can swap a directory
/// for a symlink under it; the walk keeps its own stack, so no nesting overflows it.
pub fn chown_tree(root: &std::path::Path, uid: u32, gid: u32) -> std::io::Result<()> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
        if std::fs::symlink_metadata(&path)?.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nvscode:x:1000:1000::/home/vscode:/bin/sh\nbroken\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:vscode\n";

    #[test]
    fn specs_resolve_as_docker_does() {
        let ids = |uid, gid, home: &str| UserIds {
            uid,
            gid,
            home: home.to_owned(),
            host_uid: uid,
            host_gid: gid,
        };
        let table: &[(Option<&str>, Result<UserIds, &str>)] = &[
            (None, Ok(ids(0, 0, "/root"))),
            (Some("vscode"), Ok(ids(1000, 1000, "/home/vscode"))),
            (Some("1000"), Ok(ids(1000, 1000, "/home/vscode"))),
            (Some("vscode:staff"), Ok(ids(1000, 50, "/home/vscode"))),
            (Some("4242:7"), Ok(ids(4242, 7, "/"))),
            (Some("nobody"), Err("user nobody is not in")),
            (Some("vscode:wheel"), Err("group wheel is not in")),
        ];
        for (spec, want) in table {
            let got = resolve_user(*spec, PASSWD, GROUP);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(&g, w, "{spec:?}"),
                (Err(g), Err(w)) => assert!(g.starts_with(w), "{spec:?}: {g}"),
                (g, w) => panic!("{spec:?}: got {g:?}, want {w:?}"),
            }
        }
        assert_eq!(resolve_user(None, "", "").unwrap().home, "/root");
    }
}
