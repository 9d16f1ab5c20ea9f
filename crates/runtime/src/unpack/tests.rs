//! Unpacking tar fixtures built in memory: what each kind of entry becomes, overlay whiteouts,
//! and hostile layers that try to write or link outside their directory. Every case runs in a
//! scratch directory holding the layer directory and an empty sentinel sibling that must stay
//! empty, and checks that the host's `/etc/shadow` gained no link. Needs root (ownership,
//! device nodes, `trusted.*` attributes, overlay mounts), as the runtime does.

use std::fs;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use super::fixtures::*;
use super::*;

const HOST_FILE: &str = "/etc/shadow";

type Check = fn(&Path, &Path);

struct Case {
    name: &'static str,
    /// The entries, given the sentinel directory outside the layer (for hostile targets).
    entries: fn(&Path) -> Vec<E>,
    /// `Ok`: a check of the layer directory (and the sentinel); `Err`: part of the message.
    expect: Result<Check, &'static str>,
}

fn run(case: &Case) {
    let scratch = tempfile::tempdir().unwrap();
    let layer = scratch.path().join("layer");
    let outside = scratch.path().join("outside");
    fs::create_dir(&layer).unwrap();
    fs::create_dir(&outside).unwrap();
    let host_links = fs::metadata(HOST_FILE).map(|m| m.nlink()).ok();
    let bytes = tar(&(case.entries)(&outside));
    let result = unpack_layer(&bytes[..], &layer, "sha256:test");
    match (&case.expect, result) {
        (Ok(check), Ok(_)) => check(&layer, &outside),
        (Err(wanted), Err(e)) => assert!(
            e.to_string().contains(wanted),
            "{}: the error {e:?} does not say {wanted:?}",
            case.name
        ),
        (Ok(_), Err(e)) => panic!("{}: failed: {e}", case.name),
        (Err(_), Ok(_)) => panic!("{}: unpacked a layer that should fail", case.name),
    }
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "{}: something was written outside the layer",
        case.name
    );
    let mut siblings: Vec<_> = fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    siblings.sort();
    assert_eq!(siblings, ["layer", "outside"], "{}", case.name);
    assert_eq!(
        fs::metadata(HOST_FILE).map(|m| m.nlink()).ok(),
        host_links,
        "{}: the host's {HOST_FILE} gained a link",
        case.name
    );
}

fn meta(path: &Path) -> fs::Metadata {
    fs::symlink_metadata(path).unwrap()
}

fn mode(path: &Path) -> u32 {
    meta(path).permissions().mode() & 0o7777
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut value = [0u8; 16];
    rustix::fs::lgetxattr(path, name, &mut value[..])
        .ok()
        .map(|n| value[..n].to_vec())
}

fn is_whiteout(path: &Path) -> bool {
    let m = meta(path);
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Everything under `dir`, as sorted relative paths.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

const CASES: &[Case] = &[
    Case {
        name: "a regular file keeps its data, mode, owner and time",
        entries: |_| vec![file("etc/hello", "hi").mode(0o640).owner(1000, 1001)],
        expect: Ok(|l, _| {
            let p = l.join("etc/hello");
            assert_eq!(fs::read(&p).unwrap(), b"hi");
            assert_eq!(mode(&p), 0o640);
            assert_eq!((meta(&p).uid(), meta(&p).gid()), (1000, 1001));
            assert_eq!(meta(&p).mtime(), MTIME as i64);
        }),
    },
    Case {
        name: "setuid, setgid and sticky bits survive the chown",
        entries: |_| {
            vec![
                file("bin/su", "x").mode(0o4755),
                file("bin/wall", "x").mode(0o2755).owner(1000, 5),
                dir("tmp/").mode(0o1777),
            ]
        },
        expect: Ok(|l, _| {
            assert_eq!(mode(&l.join("bin/su")), 0o4755);
            assert_eq!(mode(&l.join("bin/wall")), 0o2755);
            assert_eq!(mode(&l.join("tmp")), 0o1777);
        }),
    },
    Case {
        name: "parents missing from the tar are made with mode 0755",
        entries: |_| vec![file("x/y/z", "deep")],
        expect: Ok(|l, _| {
            assert_eq!(fs::read(l.join("x/y/z")).unwrap(), b"deep");
            assert_eq!(mode(&l.join("x")), 0o755);
            assert_eq!(mode(&l.join("x/y")), 0o755);
        }),
    },
    Case {
        name: "a directory keeps its time though entries are made in it later",
        entries: |_| {
            vec![
                dir("./").mode(0o755),
                dir("d/").mode(0o700).owner(7, 8).mtime(1_000_000),
                file("d/f", "x"),
            ]
        },
        expect: Ok(|l, _| {
            let d = l.join("d");
            assert_eq!(meta(&d).mtime(), 1_000_000);
            assert_eq!(mode(&d), 0o700);
            assert_eq!((meta(&d).uid(), meta(&d).gid()), (7, 8));
            assert_eq!(meta(l).mtime(), MTIME as i64, "the root's own entry");
        }),
    },
    Case {
        name: "hard links share the inode, absolute targets are in the layer",
        entries: |_| {
            vec![
                file("a", "data"),
                hardlink("b", "a"),
                hardlink("sub/c", "/a"),
            ]
        },
        expect: Ok(|l, _| {
            assert_eq!(meta(&l.join("a")).nlink(), 3);
            assert_eq!(meta(&l.join("b")).ino(), meta(&l.join("a")).ino());
            assert_eq!(meta(&l.join("sub/c")).ino(), meta(&l.join("a")).ino());
        }),
    },
    Case {
        name: "symlinks, fifos and device nodes",
        entries: |_| {
            vec![
                symlink("l", "/etc/hello").owner(3, 4),
                entry(EntryType::Fifo, "p").mode(0o600),
                entry(EntryType::Char, "dev/null").mode(0o666).dev(1, 3),
                entry(EntryType::Block, "dev/sda").mode(0o660).dev(8, 0),
            ]
        },
        expect: Ok(|l, _| {
            assert_eq!(fs::read_link(l.join("l")).unwrap(), Path::new("/etc/hello"));
            assert_eq!(meta(&l.join("l")).uid(), 3);
            assert!(meta(&l.join("p")).file_type().is_fifo());
            assert_eq!(mode(&l.join("p")), 0o600);
            let null = meta(&l.join("dev/null"));
            assert!(null.file_type().is_char_device());
            assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
            assert_eq!(mode(&l.join("dev/null")), 0o666);
            assert!(meta(&l.join("dev/sda")).file_type().is_block_device());
        }),
    },
    Case {
        name: "GNU long names and long link targets",
        entries: |_| {
            let long = format!("{}/file", "d".repeat(150));
            vec![file(&long, "long"), symlink("ln", &long)]
        },
        expect: Ok(|l, _| {
            let long = format!("{}/file", "d".repeat(150));
            assert_eq!(fs::read(l.join(&long)).unwrap(), b"long");
            assert_eq!(fs::read_link(l.join("ln")).unwrap(), Path::new(&long));
        }),
    },
    Case {
        name: "a whiteout becomes a character device 0/0",
        entries: |_| vec![dir("d/"), entry(EntryType::Regular, "d/.wh.gone")],
        expect: Ok(|l, _| {
            assert!(is_whiteout(&l.join("d/gone")));
            assert!(!l.join("d/.wh.gone").exists());
        }),
    },
    Case {
        name: "an opaque marker sets the overlay attribute, making the directory if needed",
        entries: |_| {
            vec![
                entry(EntryType::Regular, "d/.wh..wh..opq"),
                entry(EntryType::Regular, ".wh..wh.plnk"),
            ]
        },
        expect: Ok(|l, _| {
            assert_eq!(xattr(&l.join("d"), "trusted.overlay.opaque").unwrap(), b"y");
            assert_eq!(tree(l), ["d"], "nothing else is made");
        }),
    },
    Case {
        name: "a file later in the layer replaces a whiteout, a whiteout leaves an earlier file",
        entries: |_| {
            vec![
                entry(EntryType::Regular, ".wh.a"),
                file("a", "back"),
                file("b", "kept"),
                entry(EntryType::Regular, ".wh.b"),
            ]
        },
        expect: Ok(|l, _| {
            assert_eq!(fs::read(l.join("a")).unwrap(), b"back");
            assert_eq!(fs::read(l.join("b")).unwrap(), b"kept");
        }),
    },
    Case {
        name: "a directory replacing a whiteout is opaque, so the lower one stays hidden",
        entries: |_| vec![entry(EntryType::Regular, ".wh.d"), dir("d/")],
        expect: Ok(|l, _| {
            assert!(meta(&l.join("d")).is_dir());
            assert_eq!(xattr(&l.join("d"), "trusted.overlay.opaque").unwrap(), b"y");
        }),
    },
    Case {
        name: "duplicates: files are replaced, directories merged, kinds swapped",
        entries: |_| {
            vec![
                file("f", "first"),
                file("f", "second"),
                dir("d/"),
                file("d/x", "x"),
                dir("d/").mode(0o750),
                dir("was-dir/"),
                file("was-dir/inner", "x"),
                file("was-dir", "now a file"),
                file("was-file", "x"),
                dir("was-file/"),
                symlink("was-link", "f"),
                file("was-link", "now a file"),
            ]
        },
        expect: Ok(|l, _| {
            assert_eq!(fs::read(l.join("f")).unwrap(), b"second");
            assert_eq!(fs::read(l.join("d/x")).unwrap(), b"x");
            assert_eq!(mode(&l.join("d")), 0o750);
            assert_eq!(fs::read(l.join("was-dir")).unwrap(), b"now a file");
            assert!(meta(&l.join("was-file")).is_dir());
            assert!(meta(&l.join("was-link")).is_file());
            assert_eq!(fs::read(l.join("f")).unwrap(), b"second");
        }),
    },
    // Hostile layers.
    Case {
        name: "a name climbing out of the layer fails the layer",
        entries: |_| vec![file("ok", "x"), file("../escape", "x")],
        expect: Err("\"../escape\" points outside the layer (breakout)"),
    },
    Case {
        name: "a nested name climbing out fails the layer",
        entries: |_| vec![file("a/../../x", "x")],
        expect: Err("\"a/../../x\" points outside the layer (breakout)"),
    },
    Case {
        name: "absolute names are relative to the layer root, `..` stopping there",
        entries: |_| vec![file("/abs", "x"), file("/../up", "x"), dir("/d/../e/")],
        expect: Ok(|l, _| assert_eq!(tree(l), ["abs", "e", "up"])),
    },
    Case {
        name: "a symlink to an absolute host path is followed inside the layer",
        entries: |outside| {
            let target = outside.to_str().unwrap();
            vec![
                symlink("evil", target),
                file("evil/owned", "x"),
                dir("evil/sub/"),
                entry(EntryType::Regular, "evil/.wh.w"),
                entry(EntryType::Regular, "evil/sub/.wh..wh..opq"),
            ]
        },
        expect: Ok(|l, outside| {
            let inside = l.join(outside.strip_prefix("/").unwrap());
            assert_eq!(fs::read(inside.join("owned")).unwrap(), b"x");
            assert!(meta(&inside.join("sub")).is_dir());
            assert!(is_whiteout(&inside.join("w")));
            assert!(fs::read_link(l.join("evil")).unwrap() == outside);
        }),
    },
    Case {
        name: "a symlink climbing with `..` stops at the layer root",
        entries: |_| vec![symlink("evil", "../../.."), file("evil/owned", "x")],
        expect: Ok(|l, _| assert_eq!(fs::read(l.join("owned")).unwrap(), b"x")),
    },
    Case {
        name: "a file replacing a symlink to the host is not written through it",
        entries: |outside| {
            let target = outside.join("file");
            vec![
                symlink("f", target.to_str().unwrap()),
                file("f", "x"),
                symlink("g", target.to_str().unwrap()),
                entry(EntryType::Fifo, "g"),
            ]
        },
        expect: Ok(|l, _| {
            assert!(meta(&l.join("f")).is_file());
            assert!(meta(&l.join("g")).file_type().is_fifo());
        }),
    },
    Case {
        name: "a symlink loop fails the entry, not the host",
        entries: |_| vec![symlink("a", "b"), symlink("b", "a"), file("a/x", "x")],
        expect: Err("\"a/x\""),
    },
    Case {
        name: "a hard link to a host file not in the layer fails",
        entries: |_| vec![hardlink("x", HOST_FILE)],
        expect: Err("the hard link \"x\" points to \"/etc/shadow\", which is not in the layer"),
    },
    Case {
        name: "a hard link climbing out of the layer fails",
        entries: |_| vec![hardlink("x", "../../../../../../etc/shadow")],
        expect: Err("which is not in the layer"),
    },
    Case {
        name: "a hard link to an absolute path links the layer's own file",
        entries: |_| vec![file("etc/shadow", "mine"), hardlink("x", HOST_FILE)],
        expect: Ok(|l, _| {
            assert_eq!(fs::read(l.join("x")).unwrap(), b"mine");
            assert_eq!(meta(&l.join("etc/shadow")).nlink(), 2);
        }),
    },
    Case {
        name: "a hard link through a symlink to the host fails when the layer lacks the file",
        entries: |_| vec![symlink("s", "/etc"), hardlink("h", "s/shadow")],
        expect: Err("which is not in the layer"),
    },
    Case {
        name: "a hard link through a symlink resolves inside the layer",
        entries: |_| {
            vec![
                file("etc/shadow", "mine"),
                symlink("s", "../../../etc"),
                hardlink("h", "s/shadow"),
            ]
        },
        expect: Ok(|l, _| assert_eq!(meta(&l.join("etc/shadow")).nlink(), 2)),
    },
    Case {
        name: "a hard link to a symlink links the symlink, not what it names",
        entries: |_| vec![symlink("s", HOST_FILE), hardlink("h", "s")],
        expect: Ok(|l, _| {
            assert_eq!(fs::read_link(l.join("h")).unwrap(), Path::new(HOST_FILE));
            assert_eq!(meta(&l.join("s")).nlink(), 2);
        }),
    },
    Case {
        name: "a whiteout of `..` is refused",
        entries: |_| vec![entry(EntryType::Regular, "d/.wh..")],
        expect: Err("a whiteout must name a file"),
    },
];

#[test]
fn unpacking_cases() {
    for case in CASES {
        run(case);
    }
}

#[test]
fn names_are_cleaned_as_docker_cleans_them() {
    let cases: &[(&str, Option<&str>)] = &[
        ("a/b", Some("a/b")),
        ("./a//b/", Some("a/b")),
        ("/abs", Some("abs")),
        ("/../x", Some("x")),
        ("a/../b", Some("b")),
        ("a/..", Some("")),
        ("./", Some("")),
        ("..", None),
        ("../x", None),
        ("a/../../x", None),
    ];
    for (name, want) in cases {
        let got = clean(name.as_bytes()).map(|p| String::from_utf8(p).unwrap());
        assert_eq!(got.as_deref(), *want, "{name}");
    }
}

#[test]
fn pax_times_with_fractions() {
    let cases: &[(&str, Option<(i64, i64)>)] = &[
        ("12", Some((12, 0))),
        ("12.5", Some((12, 500_000_000))),
        ("12.123456789123", Some((12, 123_456_789))),
        ("-1.25", Some((-2, 750_000_000))),
        ("x", None),
        ("1.x", None),
    ];
    for (value, want) in cases {
        let got = pax_time(value).map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(got, *want, "{value}");
    }
}

#[test]
fn compressed_layers_by_media_type() {
    let plain = tar(&[file("hello", "world")]);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&plain).unwrap();
    let gzip = gzip.finish().unwrap();
    let zstd = zstd::encode_all(&plain[..], 1).unwrap();
    let cases: &[(&str, &[u8])] = &[
        ("application/vnd.oci.image.layer.v1.tar", &plain),
        ("application/vnd.oci.image.layer.v1.tar+gzip", &gzip),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", &gzip),
        ("application/vnd.oci.image.layer.v1.tar+zstd", &zstd),
    ];
    for (media_type, blob) in cases {
        let dir = tempfile::tempdir().unwrap();
        let stats = unpack_blob(*blob, media_type, dir.path(), "sha256:test").unwrap();
        assert_eq!(fs::read(dir.path().join("hello")).unwrap(), b"world");
        assert_eq!((stats.files, stats.bytes), (1, 5), "{media_type}");
        assert_eq!(
            Compression::sniff(blob),
            Compression::from_media_type(media_type)
        );
    }
    let err = unpack_blob(
        &b"{}"[..],
        "application/vnd.oci.image.config.v1+json",
        Path::new("/nonexistent"),
        "sha256:cfg",
    )
    .unwrap_err();
    assert!(matches!(err, UnpackError::MediaType { .. }));
    assert!(
        err.to_string()
            .contains("the media type \"application/vnd.oci.image.config.v1+json\" is not a layer"),
        "{err}"
    );
    assert_eq!(Compression::sniff(b"{\"architecture\":\"amd64\"}"), None);
}

#[test]
fn a_truncated_layer_fails() {
    let plain = tar(&[file("hello", &"x".repeat(4096))]);
    let dir = tempfile::tempdir().unwrap();
    let err = unpack_layer(&plain[..1024], dir.path(), "sha256:cut").unwrap_err();
    assert!(err.to_string().starts_with("layer sha256:cut: "), "{err}");
}

#[test]
fn reading_a_file_resolves_in_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = tar(&[
        file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
        symlink("etc/group", "../../../../../etc/shadow"),
        symlink("lnk", "/etc"),
    ]);
    unpack_layer(&bytes[..], dir.path(), "sha256:test").unwrap();
    let passwd = read_in_root(dir.path(), "/etc/passwd").unwrap();
    assert_eq!(passwd, b"root:x:0:0::/root:/bin/sh\n");
    assert_eq!(read_in_root(dir.path(), "lnk/passwd").unwrap(), passwd);
    let err = read_in_root(dir.path(), "/etc/group").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "not the host's shadow");
    let err = read_in_root(dir.path(), "/etc").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn overlayfs_honours_whiteouts_and_opaque_directories() {
    let scratch = tempfile::tempdir().unwrap();
    let [lower, upper, merged] = ["lower", "upper", "merged"].map(|d| scratch.path().join(d));
    for d in [&lower, &upper, &merged] {
        fs::create_dir(d).unwrap();
    }
    let lower_tar = tar(&[file("a", "a"), file("b", "b"), file("d/x", "x")]);
    unpack_layer(&lower_tar[..], &lower, "sha256:lower").unwrap();
    let upper_tar = tar(&[
        entry(EntryType::Regular, ".wh.a"),
        dir("d/"),
        entry(EntryType::Regular, "d/.wh..wh..opq"),
        file("d/y", "y"),
    ]);
    unpack_layer(&upper_tar[..], &upper, "sha256:upper").unwrap();
    let options = format!("lowerdir={}:{}", upper.display(), lower.display());
    let options = std::ffi::CString::new(options).unwrap();
    rustix::mount::mount(
        "overlay",
        &merged,
        "overlay",
        rustix::mount::MountFlags::RDONLY,
        options.as_c_str(),
    )
    .unwrap();
    let _mounted = Mounted(&merged);
    assert_eq!(tree(&merged), ["b", "d", "d/y"]);
}

/// Issue 14: a hostile layer cannot fill the server's disk or inode table: limits on entries,
/// on the tar stream decompressed and on files at their logical size (sparse ones included),
/// each failing with the layer's name and the setting that raises it.
#[test]
fn layers_over_their_limits_fail_naming_the_layer_and_the_setting() {
    let small = UnpackLimits {
        bytes: 64 << 10,
        entries: 3,
    };
    let scratch = tempfile::tempdir().unwrap();
    let attempt = |name: &str, bytes: &[u8]| {
        let dir = scratch.path().join(name);
        fs::create_dir(&dir).unwrap();
        unpack_layer_within(bytes, &dir, "sha256:hostile", small)
    };
    let many = tar(&[
        file("a", "1"),
        file("b", "2"),
        file("c", "3"),
        file("d", "4"),
    ]);
    let err = attempt("many", &many).unwrap_err().to_string();
    assert!(
        err.contains("sha256:hostile")
            && err.contains("more than 3 entries")
            && err.contains("max_layer_entries"),
        "{err}"
    );
    let big = tar(&[file_bytes("big", vec![7; 100 << 10])]);
    let err = attempt("big", &big).unwrap_err().to_string();
    assert!(err.contains("max_layer_gb"), "{err}");
    assert!(
        attempt("fits", &tar(&[file("a", "1"), file("b", "2")])).is_ok(),
        "within the limits"
    );

    // A sparse file of 10 MiB that takes a few KiB in the tar: counted at its logical size.
    let sparse_dir = scratch.path().join("sparse-src");
    fs::create_dir(&sparse_dir).unwrap();
    let f = fs::File::create(sparse_dir.join("holes")).unwrap();
    f.set_len(10 << 20).unwrap();
    drop(f);
    let archive = scratch.path().join("sparse.tar");
    let status = std::process::Command::new("tar")
        .arg("--sparse")
        .arg("-C")
        .arg(&sparse_dir)
        .arg("-cf")
        .arg(&archive)
        .arg("holes")
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = fs::read(&archive).unwrap();
    assert!(
        bytes.len() < 64 << 10,
        "the tar itself is small: {}",
        bytes.len()
    );
    let err = attempt("sparse", &bytes).unwrap_err().to_string();
    assert!(err.contains("max_layer_gb"), "{err}");
}
