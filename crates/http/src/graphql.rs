//! `POST /api/graphql`: the one corner of GitHub's GraphQL schema that GitHub's own clients need
//! from Berth — repositories' ids by owner and name (`gh secret set --repos` and the codespace
//! commands ask for them in one aliased query). Anything else is answered in GitHub's error shape
//! (`200` with `{"errors": [{message, locations, path, extensions}]}`), naming what Berth serves.
//!
//! The query is planned first, purely ([`plan`]: every field and argument checked, variables
//! substituted), and only a valid plan is run, each lookup through the same access check as
//! `GET /repos/{owner}/{repo}` (an invisible repository is a `NOT_FOUND`, as a missing one).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_domain::{Login, Permission, RepoName};
use berth_service::Principal;
use graphql_parser::Pos;
use graphql_parser::query::{
    Definition, Document, Field, OperationDefinition, Selection, SelectionSet, Value,
};
use serde::Deserialize;
use serde_json::{Map, json};

use crate::auth::Call;
use crate::error::ApiError;
use crate::wire::Body;

/// What Berth serves, for messages.
const SERVED: &str = "Berth serves only `repository(owner:, name:) { databaseId id name nameWithOwner }` over GraphQL; use the REST API under /api/v3 for the rest";

/// The most lookups one query may ask for (gh asks for one per repository named).
pub const MAX_LOOKUPS: usize = 100;

#[derive(Debug, Deserialize)]
pub struct Request {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, serde_json::Value>>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

pub async fn query(Call(s, p): Call, Body(req): Body<Request>) -> Result<Response, ApiError> {
    if matches!(p, Principal::Anonymous) {
        return Err(ApiError::requires_authentication());
    }
    let variables = req.variables.unwrap_or_default();
    let lookups = match plan(&req.query, req.operation_name.as_deref(), &variables) {
        Ok(l) => l,
        Err(errors) => return Ok(answer(None, errors)),
    };
    let mut data = Map::new();
    let mut errors = Vec::new();
    for l in lookups {
        let found = match (Login::parse(&l.owner), RepoName::parse(&l.name)) {
            (Ok(owner), Ok(name)) => {
                match s
                    .authz()
                    .repo_for(&p, &owner, &name, Permission::Read)
                    .await
                {
                    Ok(view) => Some(view.repo),
                    Err(berth_service::ServiceError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            _ => None,
        };
        let value = match found {
            Some(repo) => {
                let mut object = Map::new();
                for (key, field) in &l.fields {
                    let v = match field {
                        RepoField::DatabaseId => json!(repo.id),
                        RepoField::Id => json!(format!("R_{}", repo.id)),
                        RepoField::Name => json!(repo.name.as_str()),
                        RepoField::NameWithOwner => json!(repo.full_name()),
                        RepoField::Typename => json!("Repository"),
                    };
                    object.insert(key.clone(), v);
                }
                serde_json::Value::Object(object)
            }
            None => {
                errors.push(GqlError {
                    message: format!(
                        "Could not resolve to a Repository with the name '{}/{}'.",
                        l.owner, l.name
                    ),
                    kind: Some("NOT_FOUND"),
                    path: vec![l.key.clone()],
                    at: l.at,
                    extensions: None,
                });
                serde_json::Value::Null
            }
        };
        data.insert(l.key, value);
    }
    Ok(answer(Some(data), errors))
}

/// GitHub's answer: `200` with `data` (when the query ran) and `errors` (when there are any).
fn answer(data: Option<Map<String, serde_json::Value>>, errors: Vec<GqlError>) -> Response {
    let mut body = Map::new();
    if let Some(d) = data {
        body.insert("data".into(), serde_json::Value::Object(d));
    }
    if !errors.is_empty() {
        body.insert(
            "errors".into(),
            errors.iter().map(GqlError::to_json).collect(),
        );
    }
    (StatusCode::OK, Json(serde_json::Value::Object(body))).into_response()
}

/// One `repository(owner:, name:)` to look up, under the key its answer goes to.
#[derive(Debug, PartialEq)]
pub struct Lookup {
    key: String,
    owner: String,
    name: String,
    /// The answer's keys and what each holds, in the order asked.
    fields: Vec<(String, RepoField)>,
    at: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RepoField {
    DatabaseId,
    Id,
    Name,
    NameWithOwner,
    Typename,
}

/// An error in GitHub's GraphQL shape.
#[derive(Debug, PartialEq)]
pub struct GqlError {
    message: String,
    /// GitHub's `type` (`NOT_FOUND`) on execution errors.
    kind: Option<&'static str>,
    path: Vec<String>,
    at: Pos,
    /// GitHub's `extensions.code` and the names it refers to, on validation errors.
    extensions: Option<serde_json::Value>,
}

impl GqlError {
    fn invalid(message: String, path: &[&str], at: Pos, code: &str) -> Self {
        Self {
            message,
            kind: None,
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            at,
            extensions: Some(json!({ "code": code })),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut e = Map::new();
        if let Some(k) = self.kind {
            e.insert("type".into(), json!(k));
        }
        if !self.path.is_empty() {
            e.insert("path".into(), json!(self.path));
        }
        if let Some(x) = &self.extensions {
            e.insert("extensions".into(), x.clone());
        }
        e.insert(
            "locations".into(),
            json!([{ "line": self.at.line, "column": self.at.column }]),
        );
        e.insert("message".into(), json!(self.message));
        serde_json::Value::Object(e)
    }
}

/// The lookups a query asks for, or every reason it cannot be answered.
pub fn plan(
    text: &str,
    operation: Option<&str>,
    variables: &Map<String, serde_json::Value>,
) -> Result<Vec<Lookup>, Vec<GqlError>> {
    let doc: Document<'_, String> = graphql_parser::parse_query(text).map_err(|e| {
        vec![GqlError {
            message: format!("Parse error: {}", e.to_string().trim()),
            kind: None,
            path: Vec::new(),
            at: Pos { line: 1, column: 1 },
            extensions: None,
        }]
    })?;
    let set = pick_operation(&doc, operation)?;
    let mut lookups = Vec::new();
    let mut errors = Vec::new();
    for item in &set.items {
        let Selection::Field(f) = item else {
            errors.push(unserved("fragments", &[], selection_pos(item)));
            continue;
        };
        match lookup(f, variables) {
            Ok(l) => lookups.push(l),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if lookups.len() > MAX_LOOKUPS {
        errors.push(GqlError::invalid(
            format!(
                "this query asks for {} repositories; at most {MAX_LOOKUPS} per query",
                lookups.len()
            ),
            &["query"],
            set.span.0,
            "tooManyFields",
        ));
    }
    if errors.is_empty() {
        Ok(lookups)
    } else {
        Err(errors)
    }
}

fn pick_operation<'d, 'a>(
    doc: &'d Document<'a, String>,
    wanted: Option<&str>,
) -> Result<&'d SelectionSet<'a, String>, Vec<GqlError>> {
    let mut chosen = Vec::new();
    for d in &doc.definitions {
        match d {
            Definition::Fragment(f) => {
                return Err(vec![unserved("fragments", &[], f.position)]);
            }
            Definition::Operation(op) => {
                let (name, set, pos) = match op {
                    OperationDefinition::SelectionSet(s) => (None, s, s.span.0),
                    OperationDefinition::Query(q) => {
                        (q.name.as_deref(), &q.selection_set, q.position)
                    }
                    OperationDefinition::Mutation(m) => {
                        return Err(vec![unserved("mutations", &["mutation"], m.position)]);
                    }
                    OperationDefinition::Subscription(m) => {
                        return Err(vec![unserved(
                            "subscriptions",
                            &["subscription"],
                            m.position,
                        )]);
                    }
                };
                if wanted.is_none() || wanted == name {
                    chosen.push((set, pos));
                }
            }
        }
    }
    match chosen.as_slice() {
        [(set, _)] => Ok(set),
        [] => Err(vec![GqlError::invalid(
            match wanted {
                Some(w) => format!("No operation named \"{w}\""),
                None => "the document holds no operation".to_owned(),
            },
            &[],
            Pos { line: 1, column: 1 },
            "missingOperation",
        )]),
        [.., (_, pos)] => Err(vec![GqlError::invalid(
            "An operation name is required when the document holds several operations".to_owned(),
            &[],
            *pos,
            "missingOperationName",
        )]),
    }
}

fn lookup(
    f: &Field<'_, String>,
    variables: &Map<String, serde_json::Value>,
) -> Result<Lookup, Vec<GqlError>> {
    let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
    if f.name != "repository" {
        return Err(vec![GqlError {
            extensions: Some(
                json!({"code": "undefinedField", "typeName": "Query", "fieldName": f.name}),
            ),
            ..GqlError::invalid(
                format!(
                    "Field '{}' doesn't exist on type 'Query' ({SERVED})",
                    f.name
                ),
                &["query", &f.name],
                f.position,
                "undefinedField",
            )
        }]);
    }
    let mut errors = Vec::new();
    let mut owner = None;
    let mut name = None;
    for (arg, value) in &f.arguments {
        let slot = match arg.as_str() {
            "owner" => &mut owner,
            "name" => &mut name,
            // gh's lookups pass it; renames are not tracked, so it changes nothing.
            "followRenames" => continue,
            other => {
                errors.push(GqlError::invalid(
                    format!("Field 'repository' doesn't accept argument '{other}'"),
                    &["query", &key, other],
                    f.position,
                    "argumentNotAccepted",
                ));
                continue;
            }
        };
        match string_value(value, variables) {
            Some(s) => *slot = Some(s),
            None => errors.push(GqlError::invalid(
                format!("Argument '{arg}' on Field 'repository' has an invalid value; expected type 'String!'"),
                &["query", &key, arg],
                f.position,
                "argumentLiteralsIncompatible",
            )),
        }
    }
    let missing: Vec<&str> = [("owner", &owner), ("name", &name)]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| n)
        .collect();
    if !missing.is_empty() && errors.is_empty() {
        errors.push(GqlError::invalid(
            format!(
                "Field 'repository' is missing required arguments: {}",
                missing.join(", ")
            ),
            &["query", &key],
            f.position,
            "missingRequiredArguments",
        ));
    }
    let mut fields = Vec::new();
    if f.selection_set.items.is_empty() {
        errors.push(GqlError::invalid(
            "Field 'repository' returns Repository but has no selections. Did you mean 'repository { ... }'?".to_owned(),
            &["query", &key],
            f.position,
            "selectionMismatch",
        ));
    }
    for item in &f.selection_set.items {
        let Selection::Field(sub) = item else {
            errors.push(unserved("fragments", &["query", &key], selection_pos(item)));
            continue;
        };
        let field = match sub.name.as_str() {
            "databaseId" => RepoField::DatabaseId,
            "id" => RepoField::Id,
            "name" => RepoField::Name,
            "nameWithOwner" => RepoField::NameWithOwner,
            "__typename" => RepoField::Typename,
            other => {
                errors.push(GqlError {
                    extensions: Some(json!({"code": "undefinedField", "typeName": "Repository", "fieldName": other})),
                    ..GqlError::invalid(
                        format!("Field '{other}' doesn't exist on type 'Repository' ({SERVED})"),
                        &["query", &key, other],
                        sub.position,
                        "undefinedField",
                    )
                });
                continue;
            }
        };
        fields.push((sub.alias.clone().unwrap_or_else(|| sub.name.clone()), field));
    }
    match (owner, name) {
        (Some(owner), Some(name)) if errors.is_empty() => Ok(Lookup {
            key,
            owner,
            name,
            fields,
            at: f.position,
        }),
        _ => Err(errors),
    }
}

/// A `String!` argument: a literal, or a variable holding a string.
fn string_value(
    v: &Value<'_, String>,
    variables: &Map<String, serde_json::Value>,
) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Variable(name) => variables.get(name)?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn unserved(what: &str, path: &[&str], at: Pos) -> GqlError {
    GqlError::invalid(
        format!("{what} are not served here: {SERVED}"),
        path,
        at,
        "notServed",
    )
}

fn selection_pos(s: &Selection<'_, String>) -> Pos {
    match s {
        Selection::Field(f) => f.position,
        Selection::FragmentSpread(f) => f.position,
        Selection::InlineFragment(f) => f.position,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: serde_json::Value) -> Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn planned(q: &str) -> Vec<(String, String, String, Vec<RepoField>)> {
        plan(q, None, &Map::new())
            .unwrap()
            .into_iter()
            .map(|l| {
                (
                    l.key,
                    l.owner,
                    l.name,
                    l.fields.into_iter().map(|(_, f)| f).collect(),
                )
            })
            .collect()
    }

    fn messages(q: &str, op: Option<&str>) -> Vec<String> {
        plan(q, op, &Map::new())
            .unwrap_err()
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn ghs_repository_id_lookup_is_planned_alias_by_alias() {
        let q = r#"query MapRepositoryNames {
      repo_000: repository(owner: "alice", name: "tools") {
        databaseId
      }
      repo_001: repository(owner: "acme", name: "web") { databaseId __typename }
     }"#;
        assert_eq!(
            planned(q),
            [
                (
                    "repo_000".into(),
                    "alice".into(),
                    "tools".into(),
                    vec![RepoField::DatabaseId]
                ),
                (
                    "repo_001".into(),
                    "acme".into(),
                    "web".into(),
                    vec![RepoField::DatabaseId, RepoField::Typename]
                ),
            ]
        );
    }

    #[test]
    fn variables_and_anonymous_operations_are_read() {
        let q = "query Q($o: String!, $n: String!) { repository(owner: $o, name: $n) { id nameWithOwner } }";
        let l = plan(q, Some("Q"), &vars(json!({"o": "alice", "n": "tools"}))).unwrap();
        assert_eq!(
            (l[0].key.as_str(), l[0].owner.as_str(), l[0].name.as_str()),
            ("repository", "alice", "tools")
        );
        assert_eq!(
            planned("{ repository(owner: \"a\", name: \"b\") { name } }").len(),
            1
        );
    }

    #[test]
    fn everything_else_is_refused_naming_what_is_served() {
        let table: &[(&str, Option<&str>, &str)] = &[
            (
                "{ viewer { login } }",
                None,
                "Field 'viewer' doesn't exist on type 'Query'",
            ),
            (
                "{ repository(owner: \"a\", name: \"b\") { issues { totalCount } } }",
                None,
                "Field 'issues' doesn't exist on type 'Repository'",
            ),
            (
                "mutation { addStar(input: {}) { clientMutationId } }",
                None,
                "mutations are not served",
            ),
            (
                "{ repository(owner: \"a\") { id } }",
                None,
                "missing required arguments: name",
            ),
            (
                "{ repository(owner: \"a\", name: 3) { id } }",
                None,
                "Argument 'name' on Field 'repository' has an invalid value",
            ),
            (
                "{ repository(owner: \"a\", name: $missing) { id } }",
                None,
                "Argument 'name'",
            ),
            (
                "{ repository(owner: \"a\", name: \"b\") }",
                None,
                "has no selections",
            ),
            (
                "{ repository(owner: \"a\", name: \"b\") { ...F } } fragment F on Repository { id }",
                None,
                "fragments are not served",
            ),
            (
                "query A { repository(owner: \"a\", name: \"b\") { id } } query B { repository(owner: \"a\", name: \"b\") { id } }",
                None,
                "An operation name is required",
            ),
            (
                "query A { repository(owner: \"a\", name: \"b\") { id } }",
                Some("B"),
                "No operation named \"B\"",
            ),
            ("{ repository(owner: ", None, "Parse error"),
        ];
        for (q, op, expected) in table {
            let got = messages(q, *op);
            assert!(got.iter().any(|m| m.contains(expected)), "{q}: {got:?}");
        }
    }

    #[test]
    fn a_query_may_ask_for_at_most_a_hundred_repositories() {
        let many: String = (0..=MAX_LOOKUPS)
            .map(|i| format!("r{i}: repository(owner: \"a\", name: \"b{i}\") {{ databaseId }} "))
            .collect();
        let got = messages(&format!("{{ {many} }}"), None);
        assert!(got[0].contains("at most 100"), "{got:?}");
    }

    #[test]
    fn errors_take_githubs_shape() {
        let e = plan("{ viewer { login } }", None, &Map::new()).unwrap_err();
        let v = e[0].to_json();
        assert_eq!(v["extensions"]["code"], "undefinedField");
        assert_eq!(v["path"], json!(["query", "viewer"]));
        assert_eq!(v["locations"], json!([{"line": 1, "column": 3}]));
    }
}
