//! Printing results: aligned tables for people, JSON for scripts.

use serde_json::Value;

/// Prints `value` as pretty JSON.
pub fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Says what a command did, for people; with `--json`, nothing (the command printed no body).
pub fn done(as_json: bool, what: &str) {
    if !as_json {
        println!("{what}");
    }
}

/// Prints `value` as JSON with `--json` (for scripts), else `said` (for people).
pub fn either(as_json: bool, value: &Value, said: &str) {
    if as_json {
        json(value);
    } else {
        println!("{said}");
    }
}

/// A field of a JSON object as table text.
pub fn field(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    match cur {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The cells of a table row: `v` at each of `paths` (keys into the JSON, nested ones joined by
/// dots).
pub fn fields(v: &Value, paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .map(|p| field(v, &p.split('.').collect::<Vec<_>>()))
        .collect()
}

/// Prints rows under a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints a listing: as a JSON array for scripts, else as a table of `row`s under `header`.
pub fn many(as_json: bool, values: &[Value], header: &[&str], row: impl Fn(&Value) -> Vec<String>) {
    if as_json {
        json(&Value::Array(values.to_vec()));
    } else {
        table(header, &values.iter().map(row).collect::<Vec<_>>());
    }
}
