//! Reading a dev container configuration (`.devcontainer/devcontainer.json` or
//! `.devcontainer.json`, <https://containers.dev/implementors/json_reference/>): JSON with `//`
//! and `/* */` comments and trailing commas. Only the fields Berth acts on are read (`image`,
//! `containerEnv`, `remoteEnv`, `remoteUser`, `containerUser`, `postCreateCommand`,
//! `workspaceFolder`); every other top-level key is listed in [`DevContainer::unsupported`] so the
//! creation log can say what was ignored, except `name`, `$schema` and `customizations`, which
//! only name the file or configure editors and change nothing about the container.
//!
//! Variables: `${localEnv:NAME}` / `${localEnv:NAME:default}` in `containerEnv` and `remoteEnv`
//! values become the default (or nothing), as in Codespaces: Berth has no "local" machine and
//! never exposes its own environment. `${containerEnv:NAME[:default]}` in `remoteEnv` is resolved
//! by [`DevContainer::resolved_remote_env`]. Every other `${…}` (`localWorkspaceFolder`,
//! `containerWorkspaceFolder`, `devcontainerId`, …) and every variable in other fields is kept
//! verbatim.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;

/// Where a repository's default configuration is looked for, in order.
pub const DEFAULT_PATHS: [&str; 2] = [".devcontainer/devcontainer.json", ".devcontainer.json"];

/// Whether `path` is where a dev container configuration may live in a repository (the places
/// GitHub lists and lets a creator choose among): `.devcontainer.json`,
/// `.devcontainer/devcontainer.json`, or `.devcontainer/<folder>/devcontainer.json` one folder
/// deep. Nothing else: no `..`, no absolute paths, nothing a clone could turn into a path outside
/// the workspace.
pub fn is_config_path(path: &str) -> bool {
    if DEFAULT_PATHS.contains(&path) {
        return true;
    }
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [".devcontainer", folder, "devcontainer.json"] => {
            !folder.is_empty()
                && *folder != "."
                && *folder != ".."
                && !folder.chars().any(|c| c.is_control() || c == '\\')
        }
        _ => false,
    }
}

/// The configurations among a repository's file paths, the defaults first (in the order they
/// are looked for), then the rest by name.
pub fn config_paths<'a>(files: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut found: Vec<&str> = files.into_iter().filter(|p| is_config_path(p)).collect();
    found.sort_by_key(|p| {
        (
            DEFAULT_PATHS
                .iter()
                .position(|d| d == p)
                .unwrap_or(usize::MAX),
            *p,
        )
    });
    found.dedup();
    found.into_iter().map(str::to_owned).collect()
}

/// Top-level keys Berth reads.
const READ: [&str; 7] = [
    "containerEnv",
    "containerUser",
    "image",
    "postCreateCommand",
    "remoteEnv",
    "remoteUser",
    "workspaceFolder",
];
/// Top-level keys that are neither read nor worth reporting.
const QUIETLY_IGNORED: [&str; 3] = ["$schema", "customizations", "name"];

/// What Berth takes from a `devcontainer.json`. A `null` value counts as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevContainer {
    pub image: Option<String>,
    /// In file order; a repeated name keeps its first place and its last value.
    pub container_env: Vec<(String, String)>,
    /// In file order; `None` unsets the variable in remote processes.
    pub remote_env: Vec<(String, Option<String>)>,
    pub remote_user: Option<String>,
    pub container_user: Option<String>,
    pub post_create_command: Option<Command>,
    pub workspace_folder: Option<String>,
    /// Top-level keys Berth does not act on, sorted (see the module doc).
    pub unsupported: Vec<String>,
}

/// One command: a string run by `/bin/sh -c`, or an argv run without a shell.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Step {
    Shell(String),
    Exec(Vec<String>),
}

/// A lifecycle command: one step, or named steps that all run (Berth runs them in name order).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Command {
    Single(Step),
    Parallel(BTreeMap<String, Step>),
}

impl Step {
    /// The argv to run; `None` for an empty string or array, which run nothing.
    pub fn argv(&self) -> Option<Vec<String>> {
        match self {
            Self::Shell(s) if s.trim().is_empty() => None,
            Self::Shell(s) => Some(vec!["/bin/sh".into(), "-c".into(), s.clone()]),
            Self::Exec(argv) if argv.is_empty() => None,
            Self::Exec(argv) => Some(argv.clone()),
        }
    }
}

impl Command {
    /// The argvs to run, skipping empty steps.
    pub fn invocations(&self) -> Vec<Vec<String>> {
        match self {
            Self::Single(step) => step.argv().into_iter().collect(),
            Self::Parallel(steps) => steps.values().filter_map(Step::argv).collect(),
        }
    }
}

impl DevContainer {
    /// `remoteEnv` with `${containerEnv:NAME[:default]}` resolved against the container's
    /// environment: `base` (the image's) overlaid with `containerEnv`. Unset names become the
    /// default or nothing; `None` values (unset) stay `None`.
    pub fn resolved_remote_env(&self, base: &[(String, String)]) -> Vec<(String, Option<String>)> {
        let mut env: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in base.iter().chain(&self.container_env) {
            env.insert(name, value);
        }
        let lookup = |name: &str| env.get(name).copied();
        let resolve = |value: &String| substitute(value, "containerEnv", lookup);
        let resolved = self.remote_env.iter();
        resolved
            .map(|(name, value)| (name.clone(), value.as_ref().map(resolve)))
            .collect()
    }
}

/// Why a `devcontainer.json` cannot be used. Lines and columns are 1-based, columns in
/// characters, and refer to the file as written (comments included).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevContainerError {
    #[error("devcontainer.json line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("devcontainer.json line {line}, column {column}: `{field}` must be {expected}")]
    Field {
        field: &'static str,
        expected: &'static str,
        line: usize,
        column: usize,
    },
    #[error("devcontainer.json: the top level must be an object")]
    NotAnObject,
}

/// Parses a `devcontainer.json`. A file without `image` is not an error here: the caller decides.
pub fn parse(text: &str) -> Result<DevContainer, DevContainerError> {
    let json = strip_comments(text)?;
    let fields: BTreeMap<String, &RawValue> =
        serde_json::from_str(&json).map_err(|e| match e.classify() {
            Category::Data => DevContainerError::NotAnObject,
            _ => syntax(text, &e),
        })?;
    let field = |name| Field {
        text,
        json: &json,
        name,
        raw: fields.get(name).copied(),
    };
    const STRING: &str = "a string";
    let local = |v: String| substitute(&v, "localEnv", |_| None);
    let container_env: Option<Env<String>> = field("containerEnv").read("an object of strings")?;
    let remote_env: Option<Env<Option<String>>> =
        field("remoteEnv").read("an object of strings or nulls")?;
    let unsupported = fields
        .keys()
        .filter(|k| !READ.contains(&k.as_str()) && !QUIETLY_IGNORED.contains(&k.as_str()));
    Ok(DevContainer {
        image: field("image").read(STRING)?,
        container_env: container_env
            .map_or_else(Vec::new, |e| e.0)
            .into_iter()
            .map(|(k, v)| (k, local(v)))
            .collect(),
        remote_env: remote_env
            .map_or_else(Vec::new, |e| e.0)
            .into_iter()
            .map(|(k, v)| (k, v.map(local)))
            .collect(),
        remote_user: field("remoteUser").read(STRING)?,
        container_user: field("containerUser").read(STRING)?,
        post_create_command: field("postCreateCommand")
            .read("a string, an array of strings, or an object of those")?,
        workspace_folder: field("workspaceFolder").read(STRING)?,
        unsupported: unsupported.cloned().collect(),
    })
}

/// A top-level field as written, to be read as a type.
struct Field<'a> {
    text: &'a str,
    /// `text` stripped of comments; `raw` borrows from it.
    json: &'a str,
    name: &'static str,
    raw: Option<&'a RawValue>,
}

impl<'a> Field<'a> {
    /// The field's value, `null` or absent as `None`; a type error points into the value where
    /// serde_json says, else at its start.
    fn read<T: Deserialize<'a>>(
        &self,
        expected: &'static str,
    ) -> Result<Option<T>, DevContainerError> {
        let Some(raw) = self.raw else { return Ok(None) };
        serde_json::from_str(raw.get()).map_err(|e| {
            // `raw` is a slice of `json`, whose byte offsets are those of `text`.
            let start = raw.get().as_ptr() as usize - self.json.as_ptr() as usize;
            let within = if e.line() == 0 {
                0
            } else {
                byte_offset(raw.get(), e.line(), e.column())
            };
            let (line, column) = position(self.text, start + within);
            DevContainerError::Field {
                field: self.name,
                expected,
                line,
                column,
            }
        })
    }
}

/// Replaces comments and trailing commas by spaces, keeping every newline and byte offset, so
/// serde_json's positions stay those of the file. Written by hand because `json_comments` and
/// `json-strip-comments` blank the newlines inside block comments (shifting every later line),
/// and the first cannot drop trailing commas.
fn strip_comments(text: &str) -> Result<String, DevContainerError> {
    let src = text.as_bytes();
    let mut out = src.to_vec();
    let blank = |out: &mut [u8]| {
        out.iter_mut()
            .filter(|b| **b != b'\n')
            .for_each(|b| *b = b' ')
    };
    let mut comma = None; // a comma followed so far only by whitespace and comments
    let mut i = 0;
    while i < src.len() {
        let next = src.get(i + 1).copied();
        match src[i] {
            b'"' => {
                comma = None;
                i += 1;
                while i < src.len() && src[i] != b'"' {
                    i += if src[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if next == Some(b'/') => {
                let end = text[i..].find('\n').map_or(src.len(), |n| i + n);
                blank(&mut out[i..end]);
                i = end;
            }
            b'/' if next == Some(b'*') => {
                let Some(n) = text[i + 2..].find("*/") else {
                    let (line, column) = position(text, i);
                    let message = "unterminated `/*` comment".to_owned();
                    return Err(DevContainerError::Syntax {
                        line,
                        column,
                        message,
                    });
                };
                let end = i + 2 + n + 2;
                blank(&mut out[i..end]);
                i = end - 1;
            }
            b',' => comma = Some(i),
            b'}' | b']' => {
                if let Some(c) = comma.take() {
                    out[c] = b' ';
                }
            }
            b if b.is_ascii_whitespace() => {}
            _ => comma = None,
        }
        i += 1;
    }
    // Only whole comments (complete UTF-8 sequences) and ASCII commas were replaced.
    Ok(String::from_utf8(out).expect("blanking whole comments keeps UTF-8 valid"))
}

/// The 1-based line and character column of the byte at `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// The byte offset of serde_json's `line` and byte `column` (that of the byte just read) in `text`.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn syntax(text: &str, e: &serde_json::Error) -> DevContainerError {
    let (line, column) = position(text, byte_offset(text, e.line(), e.column()));
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    DevContainerError::Syntax {
        line,
        column,
        message,
    }
}

/// Replaces `${KIND:NAME}` and `${KIND:NAME:default}` by `lookup(NAME)`, else the default, else
/// nothing; other `${…}` stay as written.
fn substitute<'a>(value: &str, kind: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            rest = &rest[start..];
            break;
        };
        let (whole, after) = rest[start..].split_at(len + 1);
        match whole[2..len]
            .strip_prefix(kind)
            .and_then(|v| v.strip_prefix(':'))
        {
            Some(var) => {
                let (name, default) = var.split_once(':').unwrap_or((var, ""));
                out.push_str(lookup(name).unwrap_or(default));
            }
            None => out.push_str(whole),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// An object's entries in file order; a repeated name keeps its first place and last value.
struct Env<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Env<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EnvVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for EnvVisitor<T> {
            type Value = Env<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Env<T>, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, T>()? {
                    match entries.iter_mut().find(|(n, _)| *n == name) {
                        Some(entry) => entry.1 = value,
                        None => entries.push((name, value)),
                    }
                }
                Ok(Env(entries))
            }
        }
        d.deserialize_map(EnvVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn configuration_paths_are_the_ones_github_lists() {
        for ok in [
            ".devcontainer.json",
            ".devcontainer/devcontainer.json",
            ".devcontainer/python/devcontainer.json",
        ] {
            assert!(is_config_path(ok), "{ok}");
        }
        for bad in [
            "devcontainer.json",
            "/.devcontainer.json",
            ".devcontainer/../devcontainer.json",
            ".devcontainer/a/b/devcontainer.json",
            ".devcontainer//devcontainer.json",
            ".devcontainer/./devcontainer.json",
            "x/.devcontainer/devcontainer.json",
            ".devcontainer/python/other.json",
        ] {
            assert!(!is_config_path(bad), "{bad}");
        }
        assert_eq!(
            config_paths([
                "README",
                ".devcontainer/z/devcontainer.json",
                ".devcontainer.json",
                ".devcontainer/a/devcontainer.json",
                ".devcontainer/devcontainer.json",
            ]),
            [
                ".devcontainer/devcontainer.json",
                ".devcontainer.json",
                ".devcontainer/a/devcontainer.json",
                ".devcontainer/z/devcontainer.json",
            ]
        );
    }

    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn comments_and_trailing_commas_are_ignored_outside_strings() {
        let table: &[(&str, &str)] = &[
            // (file, image)
            (r#"{"image": "http://x"}"#, "http://x"),
            ("// top\n{\"image\": /* a */ \"u\" // end\n}", "u"),
            (r#"{"image": "a/*b*/c//d", }"#, "a/*b*/c//d"),
            (r#"{"image": "q\"//x", /* } */ }"#, "q\"//x"),
            (r#"{"image": "back\\", "x": [1, 2,], }"#, "back\\"),
            ("{\"image\": \"x\",\n  // last\n  /* ✓ */\n}", "x"),
            ("{\"image\": \"é,}\" /* multi\nline */ ,}", "é,}"),
        ];
        for (file, image) in table {
            let dev = parse(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(dev.image.as_deref(), Some(*image), "{file}");
        }
    }

    #[test]
    fn fields_are_read() {
        let file = r#"{
            "image": "mcr.microsoft.com/devcontainers/base:ubuntu",
            "containerEnv": {"Z": "1", "A": "${localEnv:HOME}/x", "Z": "2"},
            "remoteEnv": {"PATH": "${containerEnv:PATH}:/opt", "GONE": null, "D": "${localEnv:X:dflt}"},
            "remoteUser": "vscode", "containerUser": "root",
            "workspaceFolder": "/workspaces/${localWorkspaceFolderBasename}",
            "postCreateCommand": null,
        }"#;
        let dev = parse(file).unwrap();
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            dev.image.as_deref(),
            Some("mcr.microsoft.com/devcontainers/base:ubuntu")
        );
        assert_eq!(dev.container_env, [pair("Z", "2"), pair("A", "/x")]);
        let remote = |k: &str, v: Option<&str>| (k.to_owned(), v.map(str::to_owned));
        let expected = [
            remote("PATH", Some("${containerEnv:PATH}:/opt")),
            remote("GONE", None),
            remote("D", Some("dflt")),
        ];
        assert_eq!(dev.remote_env, expected);
        assert_eq!(dev.remote_user.as_deref(), Some("vscode"));
        assert_eq!(dev.container_user.as_deref(), Some("root"));
        assert_eq!(
            dev.workspace_folder.as_deref(),
            Some("/workspaces/${localWorkspaceFolderBasename}")
        );
        assert_eq!(dev.post_create_command, None);
        assert!(dev.unsupported.is_empty());
        assert_eq!(parse("{}").unwrap(), DevContainer::default());
    }

    #[test]
    fn container_env_is_substituted_in_remote_env() {
        let file = r#"{"containerEnv": {"HOME": "/home/me"}, "remoteEnv": {
            "A": "${containerEnv:PATH}:${containerEnv:HOME}/bin",
            "B": "${containerEnv:NOPE}|${containerEnv:NOPE:d:e}|${localWorkspaceFolder}|${oops",
            "C": null}}"#;
        let base = [
            ("PATH".to_owned(), "/usr/bin".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        let got = parse(file).unwrap().resolved_remote_env(&base);
        let expected = [
            ("A".to_owned(), Some("/usr/bin:/home/me/bin".to_owned())),
            (
                "B".to_owned(),
                Some("|d:e|${localWorkspaceFolder}|${oops".to_owned()),
            ),
            ("C".to_owned(), None),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn commands_take_every_form() {
        let sh = |s: &str| strings(&["/bin/sh", "-c", s]);
        let table: &[(&str, Vec<Vec<String>>)] = &[
            // (postCreateCommand, invocations)
            (r#""npm ci && make""#, vec![sh("npm ci && make")]),
            (
                r#"["make", "-j", "2"]"#,
                vec![strings(&["make", "-j", "2"])],
            ),
            (
                r#"{"z": "echo z", "a": ["ls", "-l"], "e": [], "s": " "}"#,
                vec![strings(&["ls", "-l"]), sh("echo z")],
            ),
            (r#""""#, vec![]),
            ("[]", vec![]),
        ];
        for (command, invocations) in table {
            let dev = parse(&format!(r#"{{"postCreateCommand": {command}}}"#)).unwrap();
            assert_eq!(
                dev.post_create_command.unwrap().invocations(),
                *invocations,
                "{command}"
            );
        }
    }

    #[test]
    fn unsupported_keys_are_listed_sorted() {
        let table: &[(&str, &[&str])] = &[
            (
                r#"{"name": "x", "$schema": "s", "customizations": {"vscode": {}}}"#,
                &[],
            ),
            (
                r#"{"features": {}, "build": {"dockerfile": "D"}, "image": "i"}"#,
                &["build", "features"],
            ),
            (
                r#"{"forwardPorts": [3000], "mounts": [], "runArgs": ["--x"], "postStartCommand": "a",
                    "dockerComposeFile": "c.yml", "dockerFile": "D"}"#,
                &[
                    "dockerComposeFile",
                    "dockerFile",
                    "forwardPorts",
                    "mounts",
                    "postStartCommand",
                    "runArgs",
                ],
            ),
        ];
        for (file, unsupported) in table {
            assert_eq!(
                parse(file).unwrap().unsupported,
                strings(unsupported),
                "{file}"
            );
        }
    }

    #[test]
    fn errors_name_the_fault_and_its_place() {
        let table: &[(&str, &str)] = &[
            (
                "{\n  // c\n  /* a\n  b */\n  \"image\": \"x\" \"y\"\n}",
                "line 5, column 16: expected `,` or `}`",
            ),
            ("{\"a\": \"é\" x}", "line 1, column 11: expected `,` or `}`"),
            (
                "{\n  \"image\": \"x\"",
                "line 2, column 14: EOF while parsing an object",
            ),
            (
                "{\n  \"image\": 1 /* open",
                "line 2, column 14: unterminated `/*` comment",
            ),
            ("{\"image\": / }", "line 1, column 11: expected value"),
            ("", "line 1, column 1: EOF while parsing a value"),
            ("[1]", "the top level must be an object"),
            ("\"x\"", "the top level must be an object"),
            (
                "{\n  \"image\": 3\n}",
                "line 2, column 12: `image` must be a string",
            ),
            (
                "{\n  // x\n  \"containerEnv\": {\"A\": 1}}",
                "line 3, column 25: `containerEnv` must be an object of strings",
            ),
            (
                "{\"containerEnv\": [\"A=1\"]}",
                "line 1, column 18: `containerEnv` must be an object of strings",
            ),
            (
                "{\"remoteEnv\": {\"A\": true}}",
                "line 1, column 24: `remoteEnv` must be an object of strings or nulls",
            ),
            (
                "{\"remoteUser\": {}}",
                "line 1, column 16: `remoteUser` must be a string",
            ),
            (
                "{\"postCreateCommand\": [\"a\", 1]}",
                "line 1, column 23: `postCreateCommand` must be a string, an array of strings, or an object of those",
            ),
            (
                "{\"postCreateCommand\": {\"a\": {\"b\": \"c\"}}}",
                "line 1, column 23: `postCreateCommand` must be a string, an array of strings, or an object of those",
            ),
        ];
        let mut wrong = Vec::new();
        for (file, error) in table {
            let got = parse(file).unwrap_err().to_string();
            let sep = if error.starts_with("line") { " " } else { ": " };
            if got != format!("devcontainer.json{sep}{error}") {
                wrong.push(format!("{file:?}: got {got}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
