//! GitHub pagination: `per_page` (default 30, at most 100) and `page` (from 1) in, a JSON array
//! and a `Link` header with `next`, `last`, `first` and `prev` out.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use berth_store::{Listing, Window};

use crate::{ApiError, AppState};

const DEFAULT_PER_PAGE: i64 = 30;
const MAX_PER_PAGE: i64 = 100;

/// The page a request asks for, and where it was asked (to build `Link`).
#[derive(Debug, Clone)]
pub struct Paging {
    pub per_page: i64,
    pub page: i64,
    path: String,
    other_query: Vec<(String, String)>,
}

impl Paging {
    pub fn window(&self) -> Window {
        Window {
            limit: self.per_page,
            offset: (self.page - 1) * self.per_page,
        }
    }

    fn link(&self, base: &str, page: i64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.other_query {
            query.append_pair(k, v);
        }
        query.append_pair("per_page", &self.per_page.to_string());
        query.append_pair("page", &page.to_string());
        format!("<{base}{}?{}>", self.path, query.finish())
    }

    /// This request's page of a whole list (one filtered or gathered in memory).
    pub fn cut<T>(&self, all: Vec<T>) -> Listing<T> {
        Listing::page(all, self.window())
    }

    /// One page of a listing, each item rendered by `render`, as a JSON array (see
    /// [`Paging::respond`]).
    pub fn list<T, V: serde::Serialize>(
        &self,
        state: &AppState,
        listing: Listing<T>,
        render: impl FnMut(&T) -> V,
    ) -> Response {
        let items: Vec<V> = listing.items.iter().map(render).collect();
        self.respond(state, items, listing.total)
    }

    /// One page of a listing, each item rendered by `render`, under `key` (see
    /// [`Paging::respond_counted`]).
    pub fn list_counted<T, V: serde::Serialize>(
        &self,
        state: &AppState,
        key: &str,
        listing: Listing<T>,
        render: impl FnMut(&T) -> V,
    ) -> Response {
        let items: Vec<V> = listing.items.iter().map(render).collect();
        self.respond_counted(state, key, items, listing.total)
    }

    /// Renders one page of `total` items as a JSON array with GitHub's `Link` header.
    pub fn respond<T: serde::Serialize>(
        &self,
        state: &AppState,
        items: Vec<T>,
        total: i64,
    ) -> Response {
        self.respond_body(state, axum::Json(items).into_response(), total)
    }

    /// Renders one page as `{"total_count": total, <key>: [items]}` (GitHub's shape for secrets
    /// and codespaces) with the `Link` header.
    pub fn respond_counted<T: serde::Serialize>(
        &self,
        state: &AppState,
        key: &str,
        items: Vec<T>,
        total: i64,
    ) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("total_count".into(), total.into());
        body.insert(key.into(), serde_json::to_value(items).unwrap_or_default());
        self.respond_body(state, axum::Json(body).into_response(), total)
    }

    fn respond_body(&self, state: &AppState, mut response: Response, total: i64) -> Response {
        let last = ((total + self.per_page - 1) / self.per_page).max(1);
        let mut rels = Vec::new();
        if self.page < last {
            rels.push(format!(
                "{}; rel=\"next\"",
                self.link(&state.base_url, self.page + 1)
            ));
            rels.push(format!(
                "{}; rel=\"last\"",
                self.link(&state.base_url, last)
            ));
        }
        if self.page > 1 {
            rels.push(format!("{}; rel=\"first\"", self.link(&state.base_url, 1)));
            rels.push(format!(
                "{}; rel=\"prev\"",
                self.link(&state.base_url, (self.page - 1).min(last))
            ));
        }
        if !rels.is_empty()
            && let Ok(v) = HeaderValue::from_str(&rels.join(", "))
        {
            response.headers_mut().insert(header::LINK, v);
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let OriginalUri(uri) = OriginalUri::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let query = uri.query().unwrap_or("");
        let (mut per_page, mut page, mut other_query) = (None, None, Vec::new());
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "per_page" => per_page = v.parse::<i64>().ok(),
                "page" => page = v.parse::<i64>().ok(),
                _ => other_query.push((k.into_owned(), v.into_owned())),
            }
        }
        // Like GitHub, values that are not numbers fall back to the defaults.
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE);
        let page = page.unwrap_or(1).max(1);
        Ok(Paging {
            per_page,
            page,
            path: uri.path().to_owned(),
            other_query,
        })
    }
}
