//! Tar layers built in memory for tests. Each entry is written with a raw header, so that
//! names the `tar` crate's `Builder` refuses (`..`, absolute) can be expressed.

use tar::EntryType;

/// The modification time of fixture entries unless set.
pub(crate) const MTIME: u64 = 1_500_000_000;

/// One tar entry of a fixture.
pub(crate) struct E {
    kind: EntryType,
    name: String,
    link: String,
    data: Vec<u8>,
    mode: u32,
    owner: (u64, u64),
    mtime: u64,
    dev: (u32, u32),
}

pub(crate) fn entry(kind: EntryType, name: &str) -> E {
    E {
        kind,
        name: name.into(),
        link: String::new(),
        data: Vec::new(),
        mode: if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        },
        owner: (0, 0),
        mtime: MTIME,
        dev: (0, 0),
    }
}

pub(crate) fn file(name: &str, data: &str) -> E {
    file_bytes(name, data.as_bytes().to_vec())
}

pub(crate) fn file_bytes(name: &str, data: Vec<u8>) -> E {
    E {
        data,
        ..entry(EntryType::Regular, name)
    }
}

pub(crate) fn dir(name: &str) -> E {
    entry(EntryType::Directory, name)
}

pub(crate) fn symlink(name: &str, target: &str) -> E {
    E {
        link: target.into(),
        ..entry(EntryType::Symlink, name)
    }
}

pub(crate) fn hardlink(name: &str, target: &str) -> E {
    E {
        link: target.into(),
        ..entry(EntryType::Link, name)
    }
}

impl E {
    pub(crate) fn mode(self, mode: u32) -> Self {
        Self { mode, ..self }
    }
    pub(crate) fn owner(self, uid: u64, gid: u64) -> Self {
        Self {
            owner: (uid, gid),
            ..self
        }
    }
    pub(crate) fn mtime(self, mtime: u64) -> Self {
        Self { mtime, ..self }
    }
    pub(crate) fn dev(self, major: u32, minor: u32) -> Self {
        Self {
            dev: (major, minor),
            ..self
        }
    }
}

/// A tar of `entries`. Names and link targets up to 100 bytes go into the header as they are
/// (the `Builder` refuses `..`); longer ones through the `Builder`'s GNU long-name records.
pub(crate) fn tar(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(e.kind);
        header.set_size(e.data.len() as u64);
        header.set_mode(e.mode);
        header.set_uid(e.owner.0);
        header.set_gid(e.owner.1);
        header.set_mtime(e.mtime);
        header.set_device_major(e.dev.0).unwrap();
        header.set_device_minor(e.dev.1).unwrap();
        if e.name.len() > 100 || e.link.len() > 100 {
            match e.kind {
                EntryType::Symlink | EntryType::Link => {
                    builder.append_link(&mut header, &e.name, &e.link).unwrap()
                }
                _ => builder
                    .append_data(&mut header, &e.name, &e.data[..])
                    .unwrap(),
            }
            continue;
        }
        let old = header.as_old_mut();
        old.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        old.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        header.set_cksum();
        builder.append(&header, &e.data[..]).unwrap();
    }
    builder.into_inner().unwrap()
}
