//! One function per registry endpoint: parse → call → render.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_domain::oci::{Digest, RepositoryName};
use berth_service::registry::{
    ByteRange, PutManifest, RegistryCaller, RegistryError, RegistryResult, UploadOutcome,
    repository_name,
};
use serde_json::json;

use super::route::Route;
use super::{body_stream, upload_range};
use crate::AppState;

type Query = Vec<(String, String)>;

fn query_value<'a>(q: &'a Query, key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn unsupported() -> RegistryError {
    RegistryError::Unsupported("this method is not supported on this endpoint".into())
}

/// Builds a response from a status, headers and a body.
fn reply(status: StatusCode, headers: Vec<(header::HeaderName, String)>, body: Body) -> Response {
    let mut r = (status, body).into_response();
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn dcd() -> header::HeaderName {
    header::HeaderName::from_static("docker-content-digest")
}

pub async fn handle(
    state: &AppState,
    caller: &RegistryCaller,
    route: Route<'_>,
    query: &str,
    req: Request,
) -> RegistryResult<Response> {
    let q: Query = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let method = req.method().clone();
    let b = &state.berth;
    match route {
        Route::Base if caller.is_anonymous() => Err(RegistryError::Unauthorized {
            scope: String::new(),
            insufficient: false,
        }),
        Route::Base => Ok(axum::Json(json!({})).into_response()),
        Route::Blob { name, digest } => {
            let name = repository_name(name)?;
            match method {
                Method::GET | Method::HEAD => {
                    get_blob(
                        state,
                        caller,
                        &name,
                        digest,
                        req.headers(),
                        method == Method::HEAD,
                    )
                    .await
                }
                Method::DELETE => {
                    b.registry().delete_blob(caller, &name, digest).await?;
                    Ok(StatusCode::ACCEPTED.into_response())
                }
                _ => Err(unsupported()),
            }
        }
        Route::Uploads { name } if method == Method::POST => {
            start_upload(state, caller, &repository_name(name)?, &q, req).await
        }
        Route::Upload { name, id } => {
            let name = repository_name(name)?;
            let location = format!("/v2/{name}/blobs/uploads/{id}");
            match method {
                Method::GET => {
                    let status = b.registry().upload_status(caller, &name, id).await?;
                    Ok(upload_accepted(
                        StatusCode::NO_CONTENT,
                        &location,
                        status.size,
                    ))
                }
                Method::PATCH => {
                    let start = content_range_start(req.headers())?;
                    let status = b
                        .registry()
                        .append_upload(caller, &name, id, start, body_stream(req.into_body()))
                        .await?;
                    Ok(upload_accepted(
                        StatusCode::ACCEPTED,
                        &location,
                        status.size,
                    ))
                }
                Method::PUT => {
                    let digest = query_value(&q, "digest");
                    let start = content_range_start(req.headers())?;
                    let digest = b
                        .registry()
                        .finish_upload(
                            caller,
                            &name,
                            id,
                            digest,
                            start,
                            Some(body_stream(req.into_body())),
                        )
                        .await?;
                    Ok(blob_created(&name, &digest))
                }
                Method::DELETE => {
                    b.registry().cancel_upload(caller, &name, id).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => Err(unsupported()),
            }
        }
        Route::Manifest { name, reference } => {
            let name = repository_name(name)?;
            match method {
                Method::GET | Method::HEAD => {
                    let m = b
                        .registry()
                        .get_manifest(caller, &name, reference, method == Method::HEAD)
                        .await?;
                    let headers = vec![
                        (header::CONTENT_TYPE, m.media_type),
                        (header::CONTENT_LENGTH, m.size.to_string()),
                        (dcd(), m.digest.to_string()),
                        (header::ETAG, format!("\"{}\"", m.digest)),
                    ];
                    Ok(reply(
                        StatusCode::OK,
                        headers,
                        m.body.map_or_else(Body::empty, Body::from),
                    ))
                }
                Method::PUT => {
                    let tags: Vec<&str> = q
                        .iter()
                        .filter(|(k, _)| k == "tag")
                        .map(|(_, v)| v.as_str())
                        .collect();
                    put_manifest(state, caller, &name, reference, tags, req).await
                }
                Method::DELETE => {
                    b.registry()
                        .delete_manifest(caller, &name, reference)
                        .await?;
                    Ok(StatusCode::ACCEPTED.into_response())
                }
                _ => Err(unsupported()),
            }
        }
        Route::Tags { name } if method == Method::GET => {
            list_tags(state, caller, &repository_name(name)?, &q).await
        }
        Route::Referrers { name, digest } if method == Method::GET => {
            let name = repository_name(name)?;
            let artifact_type = query_value(&q, "artifactType").filter(|a| !a.is_empty());
            let referrers = b
                .registry()
                .referrers(caller, &name, digest, artifact_type)
                .await?;
            let manifests: Vec<_> = referrers
                .iter()
                .map(|r| {
                    let mut d =
                        json!({ "mediaType": r.media_type, "digest": r.digest, "size": r.size });
                    if let Some(a) = &r.artifact_type {
                        d["artifactType"] = json!(a);
                    }
                    if let Some(a) = &r.annotations {
                        d["annotations"] = a.clone();
                    }
                    d
                })
                .collect();
            let body = json!({ "schemaVersion": 2, "mediaType": berth_domain::manifest::OCI_INDEX, "manifests": manifests });
            let mut headers = vec![(
                header::CONTENT_TYPE,
                berth_domain::manifest::OCI_INDEX.to_owned(),
            )];
            if artifact_type.is_some() {
                headers.push((
                    header::HeaderName::from_static("oci-filters-applied"),
                    "artifactType".into(),
                ));
            }
            Ok(reply(StatusCode::OK, headers, Body::from(body.to_string())))
        }
        _ => Err(unsupported()),
    }
}

fn upload_accepted(status: StatusCode, location: &str, size: u64) -> Response {
    let id = location.rsplit('/').next().unwrap_or_default().to_owned();
    let mut r = reply(
        status,
        vec![
            (header::LOCATION, location.to_owned()),
            (header::HeaderName::from_static("docker-upload-uuid"), id),
        ],
        Body::empty(),
    );
    r.headers_mut().insert(header::RANGE, upload_range(size));
    r
}

fn blob_created(name: &RepositoryName, digest: &Digest) -> Response {
    reply(
        StatusCode::CREATED,
        vec![
            (header::LOCATION, format!("/v2/{name}/blobs/{digest}")),
            (dcd(), digest.to_string()),
        ],
        Body::empty(),
    )
}

/// The first byte of a chunk's `Content-Range` (`START-END`, or `bytes START-END/TOTAL`).
fn content_range_start(headers: &HeaderMap) -> RegistryResult<Option<u64>> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("bytes ").unwrap_or(text);
    let range = text.split('/').next().unwrap_or("");
    let parsed = range
        .split_once('-')
        .and_then(|(s, e)| Some((s.trim().parse::<u64>().ok()?, e.trim().parse::<u64>().ok()?)));
    match parsed {
        Some((start, end)) if start <= end => Ok(Some(start)),
        _ => Err(RegistryError::BlobUploadInvalid(format!(
            "Content-Range {text:?} is not START-END"
        ))),
    }
}

/// A single `Range: bytes=…`; anything else (absent, several ranges, another unit) is `None`
/// and the whole blob is served, as RFC 9110 allows.
fn byte_range(headers: &HeaderMap) -> Option<ByteRange> {
    let v = headers.get(header::RANGE)?.to_str().ok()?.trim();
    let spec = v.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (s, e) = spec.split_once('-')?;
    match (s.trim(), e.trim()) {
        ("", n) => n.parse().ok().map(ByteRange::Suffix),
        (s, "") => s.parse().ok().map(ByteRange::From),
        (s, e) => Some(ByteRange::FromTo(s.parse().ok()?, e.parse().ok()?)),
    }
}

async fn get_blob(
    state: &AppState,
    caller: &RegistryCaller,
    name: &RepositoryName,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> RegistryResult<Response> {
    let blob = state
        .registry()
        .get_blob(caller, name, digest, byte_range(headers), head)
        .await?;
    if let Some(url) = blob.redirect {
        let to = vec![(header::LOCATION, url), (dcd(), blob.digest.to_string())];
        return Ok(reply(StatusCode::TEMPORARY_REDIRECT, to, Body::empty()));
    }
    let (status, len, mut extra) = match blob.span {
        Some((s, e)) => (
            StatusCode::PARTIAL_CONTENT,
            e - s + 1,
            vec![(
                header::CONTENT_RANGE,
                format!("bytes {s}-{e}/{}", blob.size),
            )],
        ),
        None => (StatusCode::OK, blob.size, Vec::new()),
    };
    extra.extend([
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::CONTENT_LENGTH, len.to_string()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (dcd(), blob.digest.to_string()),
        (header::ETAG, format!("\"{}\"", blob.digest)),
    ]);
    let body = blob.body.map_or_else(Body::empty, Body::from_stream);
    Ok(reply(status, extra, body))
}

async fn start_upload(
    state: &AppState,
    caller: &RegistryCaller,
    name: &RepositoryName,
    q: &Query,
    req: Request,
) -> RegistryResult<Response> {
    let parse_digest =
        |d: &str| Digest::parse(d).map_err(|e| RegistryError::DigestInvalid(e.to_string()));
    let mount = match query_value(q, "mount") {
        Some(d) => Some((
            parse_digest(d)?,
            query_value(q, "from").map(repository_name).transpose()?,
        )),
        None => None,
    };
    let monolithic = match query_value(q, "digest") {
        Some(d) if mount.is_none() => Some((parse_digest(d)?, body_stream(req.into_body()))),
        _ => None,
    };
    match state
        .registry()
        .start_upload(caller, name, mount, monolithic)
        .await?
    {
        UploadOutcome::Blob(digest) => Ok(blob_created(name, &digest)),
        UploadOutcome::Session(s) => Ok(upload_accepted(
            StatusCode::ACCEPTED,
            &format!("/v2/{name}/blobs/uploads/{}", s.id),
            s.size,
        )),
    }
}

async fn put_manifest(
    state: &AppState,
    caller: &RegistryCaller,
    name: &RepositoryName,
    reference: &str,
    tags: Vec<&str>,
    req: Request,
) -> RegistryResult<Response> {
    let tag_param = !tags.is_empty();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
    let limit = berth_service::registry::MAX_MANIFEST;
    let body = axum::body::to_bytes(req.into_body(), limit + 1)
        .await
        .map_err(|_| {
            RegistryError::SizeInvalid(format!(
                "the manifest is larger than {limit} bytes, or its body could not be read"
            ))
        })?;
    let put = PutManifest {
        reference,
        tags,
        content_type: content_type.as_deref(),
        body,
    };
    let outcome = state.registry().put_manifest(caller, name, put).await?;
    let (digest, subject) = (outcome.digest, outcome.subject);
    let mut headers = vec![
        (header::LOCATION, format!("/v2/{name}/manifests/{digest}")),
        (dcd(), digest.to_string()),
    ];
    if let Some(subject) = subject {
        headers.push((
            header::HeaderName::from_static("oci-subject"),
            subject.to_string(),
        ));
    }
    if tag_param {
        headers.push((
            header::HeaderName::from_static("oci-tag"),
            outcome.tags.join(", "),
        ));
    }
    Ok(reply(StatusCode::CREATED, headers, Body::empty()))
}

async fn list_tags(
    state: &AppState,
    caller: &RegistryCaller,
    name: &RepositoryName,
    q: &Query,
) -> RegistryResult<Response> {
    let n = match query_value(q, "n") {
        Some(n) => Some(
            n.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| RegistryError::Unsupported(format!("n={n:?} is not a count")))?,
        ),
        None => None,
    };
    let last = query_value(q, "last");
    let page = state.registry().list_tags(caller, name, n, last).await?;
    let mut headers = vec![(header::CONTENT_TYPE, "application/json".to_owned())];
    if let Some(next) = &page.next {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(n) = n {
            query.append_pair("n", &n.to_string());
        }
        let query = query.append_pair("last", next).finish();
        headers.push((
            header::LINK,
            format!("</v2/{name}/tags/list?{query}>; rel=\"next\""),
        ));
    }
    Ok(reply(
        StatusCode::OK,
        headers,
        Body::from(json!({ "name": name.as_str(), "tags": page.tags }).to_string()),
    ))
}
