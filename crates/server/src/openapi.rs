//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the HTTP API, generated from the
//! code: the routes from [`ROUTES`] (a test checks that it lists exactly the routes the
//! router serves), the request and response bodies from the model's own types
//! (`schemars` derives on the query spec, goals, funnels and results, so the document
//! cannot drift from what the server parses and answers).

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

/// How a route authenticates.
#[derive(Clone, Copy)]
pub enum Auth {
    /// Nobody: open endpoints.
    None,
    /// A site's write key (Bearer).
    WriteKey,
    /// A site's write key as HTTP basic auth (Segment).
    Basic,
    /// A read key or a dashboard session.
    ReadOrSession,
    /// A dashboard session (keys may read where noted).
    Session,
}

/// A body's schema: a model type, or an inline JSON Schema.
#[derive(Clone, Copy)]
pub enum Body {
    /// None.
    Empty,
    /// A type's schema.
    Type(fn(&mut SchemaGenerator) -> schemars::Schema),
    /// An inline schema (JSON text).
    Inline(&'static str),
}

/// One documented route.
pub struct Route {
    /// `get`, `post`, …
    pub method: &'static str,
    /// The path, with `{param}`s.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Grouping.
    pub tag: &'static str,
    /// Authentication.
    pub auth: Auth,
    /// Request body.
    pub request: Body,
    /// Successful response body.
    pub response: Body,
}

fn of<T: JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

use cairn_model::query::result::QueryResult;
use cairn_model::query::{ExperimentDef, FunnelSpec, Goal, PageGroup, Query, Spend, SpendImport};

const OBJECT: &str = r#"{"type": "object"}"#;
const ERROR: &str =
    r#"{"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}"#;
const RECORDS: &str = r#"{"description": "Cairn records (docs/events.md) as a JSON array, or NDJSON: one record per line.", "type": "array", "items": {"type": "object"}}"#;
const TRACKER: &str = r##"{"description": "One tracker event or an array of up to 50 (docs/ingestion.md).", "oneOf": [{"$ref": "#/components/schemas/TrackerEvent"}, {"type": "array", "maxItems": 50, "items": {"$ref": "#/components/schemas/TrackerEvent"}}]}"##;
const ASSIGN: &str = r#"{"type": "object", "description": "Exactly one of vid (the tracker's persistent id, on a first-party site) and visitor (a back end's own id).", "properties": {"experiment": {"type": "string"}, "variants": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 20}, "vid": {"type": "string"}, "visitor": {"type": "string"}, "user": {"type": "string", "description": "An identified user: the variant is the user's on every device"}, "weights": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "description": "Traffic shares, one per variant (default: the kept experiment's, else equal)"}, "expose": {"type": "boolean"}}, "required": ["experiment", "variants"]}"#;
const ASSIGNED: &str = r#"{"type": "object", "properties": {"variant": {"type": "string"}, "index": {"type": "integer"}, "exposed": {"type": "boolean"}}, "required": ["variant", "index", "exposed"]}"#;
const ACCEPTED: &str = r#"{"type": "object", "properties": {"accepted": {"type": "integer"}, "ignored": {"type": "integer"}, "reason": {"type": "string"}}, "required": ["accepted"]}"#;
const LOGIN: &str = r#"{"type": "object", "properties": {"email": {"type": "string"}, "password": {"type": "string"}}, "required": ["email", "password"]}"#;
const ME: &str = r#"{"type": "object", "properties": {"email": {"type": "string"}, "superuser": {"type": "boolean"}, "csrf": {"type": "string"}, "sites": {"type": "array", "items": {"type": "object", "properties": {"site": {"type": "string"}, "role": {"enum": ["viewer", "admin"]}}}}}}"#;
const USER: &str = r#"{"type": "object", "properties": {"email": {"type": "string"}, "superuser": {"type": "boolean"}, "sites": {"type": "array", "items": {"type": "object", "properties": {"site": {"type": "string"}, "role": {"enum": ["viewer", "admin"]}}, "required": ["site", "role"]}}}, "required": ["email", "superuser", "sites"]}"#;
const USERS: &str = r##"{"type": "array", "items": {"$ref": "#/components/schemas/User"}}"##;
const GRANT: &str =
    r#"{"type": "object", "properties": {"role": {"enum": ["viewer", "admin", null]}}}"#;
const SITE: &str = r#"{"type": "object", "properties": {"site": {"type": "string"}, "timezone": {"type": "string"}, "identity": {"enum": ["cookieless", "first-party"]}, "role": {"enum": ["viewer", "admin"]}, "write_key": {"type": "string"}}, "required": ["site", "timezone", "identity"]}"#;
const NEW_SITE: &str = r#"{"type": "object", "properties": {"domain": {"type": "string"}, "timezone": {"type": "string"}, "identity": {"enum": ["cookieless", "first-party"]}}, "required": ["domain"]}"#;
const SITE_PATCH: &str = r#"{"type": "object", "properties": {"timezone": {"type": "string"}, "identity": {"enum": ["cookieless", "first-party"]}}}"#;
const KEYS: &str = r#"{"type": "array", "items": {"type": "object", "properties": {"prefix": {"type": "string"}, "scope": {"enum": ["read", "write"]}, "created": {"type": "string"}}, "required": ["prefix", "scope", "created"]}}"#;
const NEW_KEY: &str = r#"{"type": "object", "properties": {"scope": {"enum": ["read", "write"]}}}"#;
const IGNORED: &str = r#"{"type": "object", "properties": {"site": {"type": "string"}, "minutes": {"type": "integer"}, "ignored": {"type": "object", "additionalProperties": {"type": "integer"}}}, "required": ["site", "minutes", "ignored"]}"#;
const KEY: &str =
    r#"{"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}"#;
const SEGMENT: &str = r#"{"description": "A Segment message (track, page, identify), or {\"batch\": [messages]} (docs/ingestion.md).", "type": "object"}"#;
const PLAUSIBLE: &str = r#"{"type": "object", "properties": {"name": {"type": "string"}, "url": {"type": "string"}, "domain": {"type": "string"}, "referrer": {"type": "string"}, "props": {"type": "object"}, "revenue": {"type": "object"}}}"#;

/// Every route the router serves, documented.
pub const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/",
        summary: "The dashboard",
        tag: "dashboard",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Inline(r#"{"type": "string"}"#),
    },
    Route {
        method: "get",
        path: "/app.js",
        summary: "The dashboard's script",
        tag: "dashboard",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Inline(r#"{"type": "string"}"#),
    },
    Route {
        method: "get",
        path: "/app.css",
        summary: "The dashboard's styles",
        tag: "dashboard",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Inline(r#"{"type": "string"}"#),
    },
    Route {
        method: "get",
        path: "/healthz",
        summary: "Whether the server runs and its store takes writes",
        tag: "operations",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Inline(OBJECT),
    },
    Route {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        tag: "operations",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Inline(r#"{"type": "string"}"#),
    },
    Route {
        method: "get",
        path: "/api/openapi.json",
        summary: "This document",
        tag: "operations",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Inline(OBJECT),
    },
    Route {
        method: "get",
        path: "/cairn.js",
        summary: "The browser tracker, every feature; `?f=forms,video`: the core and only those features (`?f=core`: the core alone); 400 on an unknown feature",
        tag: "ingestion",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Inline(r#"{"type": "string"}"#),
    },
    Route {
        method: "get",
        path: "/docs/{name}",
        summary: "A guide the dashboard links to, as Markdown: `tracker.md` or `ingestion.md`",
        tag: "operations",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Inline(r#"{"type": "string"}"#),
    },
    Route {
        method: "post",
        path: "/api/v1/event",
        summary: "Tracker events (CORS open)",
        tag: "ingestion",
        auth: Auth::None,
        request: Body::Inline(TRACKER),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "options",
        path: "/api/v1/event",
        summary: "CORS preflight",
        tag: "ingestion",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Empty,
    },
    Route {
        method: "post",
        path: "/api/event",
        summary: "Plausible's Events API",
        tag: "ingestion",
        auth: Auth::None,
        request: Body::Inline(PLAUSIBLE),
        response: Body::Inline(r#"{"type": "string"}"#),
    },
    Route {
        method: "options",
        path: "/api/event",
        summary: "CORS preflight",
        tag: "ingestion",
        auth: Auth::None,
        request: Body::Empty,
        response: Body::Empty,
    },
    Route {
        method: "post",
        path: "/api/v1/batch",
        summary: "Server-side batches of records, durable when answered",
        tag: "ingestion",
        auth: Auth::WriteKey,
        request: Body::Inline(RECORDS),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "post",
        path: "/api/v1/assign",
        summary: "An experiment's variant for an id (the tracker's), and optionally its exposure recorded",
        tag: "ingestion",
        auth: Auth::WriteKey,
        request: Body::Inline(ASSIGN),
        response: Body::Inline(ASSIGNED),
    },
    Route {
        method: "post",
        path: "/v1/track",
        summary: "Segment track",
        tag: "ingestion",
        auth: Auth::Basic,
        request: Body::Inline(SEGMENT),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "post",
        path: "/v1/page",
        summary: "Segment page",
        tag: "ingestion",
        auth: Auth::Basic,
        request: Body::Inline(SEGMENT),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "post",
        path: "/v1/identify",
        summary: "Segment identify",
        tag: "ingestion",
        auth: Auth::Basic,
        request: Body::Inline(SEGMENT),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "post",
        path: "/v1/batch",
        summary: "Segment batch",
        tag: "ingestion",
        auth: Auth::Basic,
        request: Body::Inline(SEGMENT),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "post",
        path: "/v1/screen",
        summary: "Segment screen (accepted, not stored)",
        tag: "ingestion",
        auth: Auth::Basic,
        request: Body::Inline(SEGMENT),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "post",
        path: "/v1/group",
        summary: "Segment group (accepted, not stored)",
        tag: "ingestion",
        auth: Auth::Basic,
        request: Body::Inline(SEGMENT),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "post",
        path: "/v1/alias",
        summary: "Segment alias (accepted, not stored)",
        tag: "ingestion",
        auth: Auth::Basic,
        request: Body::Inline(SEGMENT),
        response: Body::Inline(ACCEPTED),
    },
    Route {
        method: "post",
        path: "/api/v1/query",
        summary: "Runs a query spec",
        tag: "analysis",
        auth: Auth::ReadOrSession,
        request: Body::Type(of::<Query>),
        response: Body::Type(of::<QueryResult>),
    },
    Route {
        method: "post",
        path: "/api/v1/login",
        summary: "Opens a session (sets the cookie)",
        tag: "users",
        auth: Auth::None,
        request: Body::Inline(LOGIN),
        response: Body::Inline(ME),
    },
    Route {
        method: "post",
        path: "/api/v1/logout",
        summary: "Ends the session",
        tag: "users",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Inline(OBJECT),
    },
    Route {
        method: "get",
        path: "/api/v1/me",
        summary: "The session's user, CSRF token, sites and roles",
        tag: "users",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Inline(ME),
    },
    Route {
        method: "get",
        path: "/api/v1/users",
        summary: "Users and their roles (superusers: all; admins: on their sites)",
        tag: "users",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Inline(USERS),
    },
    Route {
        method: "post",
        path: "/api/v1/users",
        summary: "Adds a user (superusers)",
        tag: "users",
        auth: Auth::Session,
        request: Body::Inline(LOGIN),
        response: Body::Inline(USER),
    },
    Route {
        method: "put",
        path: "/api/v1/users/{email}/sites/{site}",
        summary: "Gives a user a role on a site, or takes it away (admins of the site)",
        tag: "users",
        auth: Auth::Session,
        request: Body::Inline(GRANT),
        response: Body::Inline(OBJECT),
    },
    Route {
        method: "get",
        path: "/api/v1/sites",
        summary: "The sites the caller may see",
        tag: "sites",
        auth: Auth::ReadOrSession,
        request: Body::Empty,
        response: Body::Inline(
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/Site"}}"##,
        ),
    },
    Route {
        method: "post",
        path: "/api/v1/sites",
        summary: "Adds a site (superusers)",
        tag: "sites",
        auth: Auth::Session,
        request: Body::Inline(NEW_SITE),
        response: Body::Inline(SITE),
    },
    Route {
        method: "patch",
        path: "/api/v1/sites/{site}",
        summary: "Changes a site's time zone or identity mode (admins)",
        tag: "sites",
        auth: Auth::Session,
        request: Body::Inline(SITE_PATCH),
        response: Body::Inline(SITE),
    },
    Route {
        method: "get",
        path: "/api/v1/sites/{site}/keys",
        summary: "A site's keys (admins)",
        tag: "sites",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Inline(KEYS),
    },
    Route {
        method: "post",
        path: "/api/v1/sites/{site}/keys",
        summary: "Creates a key, shown once (admins)",
        tag: "sites",
        auth: Auth::Session,
        request: Body::Inline(NEW_KEY),
        response: Body::Inline(KEY),
    },
    Route {
        method: "delete",
        path: "/api/v1/sites/{site}/keys/{prefix}",
        summary: "Revokes a key (admins)",
        tag: "sites",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Empty,
    },
    Route {
        method: "get",
        path: "/api/v1/sites/{site}/goals",
        summary: "A site's stored goals",
        tag: "definitions",
        auth: Auth::ReadOrSession,
        request: Body::Empty,
        response: Body::Type(of::<Vec<Goal>>),
    },
    Route {
        method: "get",
        path: "/api/v1/sites/{site}/ignored",
        summary: "Events answered but not stored over the last hour, per reason (bot, unsupported)",
        tag: "sites",
        auth: Auth::ReadOrSession,
        request: Body::Empty,
        response: Body::Inline(IGNORED),
    },
    Route {
        method: "get",
        path: "/api/v1/sites/{site}/live",
        summary: "The last events that arrived (`?limit=N`: 1 to 200, default 50), newest first, stored or ignored (bot, unsupported) and why; in memory",
        tag: "sites",
        auth: Auth::ReadOrSession,
        request: Body::Empty,
        response: Body::Type(of::<crate::live::LiveEvents>),
    },
    Route {
        method: "put",
        path: "/api/v1/sites/{site}/goals/{name}",
        summary: "Creates or replaces a goal (admins)",
        tag: "definitions",
        auth: Auth::Session,
        request: Body::Type(of::<Goal>),
        response: Body::Type(of::<Goal>),
    },
    Route {
        method: "delete",
        path: "/api/v1/sites/{site}/goals/{name}",
        summary: "Deletes a goal (admins)",
        tag: "definitions",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Empty,
    },
    Route {
        method: "get",
        path: "/api/v1/sites/{site}/funnels",
        summary: "A site's stored funnels, by name",
        tag: "definitions",
        auth: Auth::ReadOrSession,
        request: Body::Empty,
        response: Body::Type(of::<std::collections::BTreeMap<String, FunnelSpec>>),
    },
    Route {
        method: "put",
        path: "/api/v1/sites/{site}/funnels/{name}",
        summary: "Creates or replaces a funnel (admins)",
        tag: "definitions",
        auth: Auth::Session,
        request: Body::Type(of::<FunnelSpec>),
        response: Body::Type(of::<FunnelSpec>),
    },
    Route {
        method: "delete",
        path: "/api/v1/sites/{site}/funnels/{name}",
        summary: "Deletes a funnel (admins)",
        tag: "definitions",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Empty,
    },
    Route {
        method: "get",
        path: "/api/v1/sites/{site}/experiments",
        summary: "A site's kept experiments, by key",
        tag: "definitions",
        auth: Auth::ReadOrSession,
        request: Body::Empty,
        response: Body::Type(of::<std::collections::BTreeMap<String, ExperimentDef>>),
    },
    Route {
        method: "put",
        path: "/api/v1/sites/{site}/experiments/{key}",
        summary: "Creates or replaces an experiment's definition (admins)",
        tag: "definitions",
        auth: Auth::Session,
        request: Body::Type(of::<ExperimentDef>),
        response: Body::Type(of::<ExperimentDef>),
    },
    Route {
        method: "delete",
        path: "/api/v1/sites/{site}/experiments/{key}",
        summary: "Deletes an experiment's definition (admins); its events stay",
        tag: "definitions",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Empty,
    },
    Route {
        method: "get",
        path: "/api/v1/sites/{site}/page-groups",
        summary: "A site's page grouping rules, in order",
        tag: "definitions",
        auth: Auth::ReadOrSession,
        request: Body::Empty,
        response: Body::Type(of::<Vec<PageGroup>>),
    },
    Route {
        method: "put",
        path: "/api/v1/sites/{site}/page-groups",
        summary: "Replaces the site's ordered page grouping rules (admins); they apply to every query, over every stored event",
        tag: "definitions",
        auth: Auth::Session,
        request: Body::Type(of::<Vec<PageGroup>>),
        response: Body::Type(of::<Vec<PageGroup>>),
    },
    Route {
        method: "get",
        path: "/api/v1/sites/{site}/spend",
        summary: "A site's campaign spend per day, source, medium and campaign (query `from` and `to`: days, both or neither)",
        tag: "spend",
        auth: Auth::ReadOrSession,
        request: Body::Empty,
        response: Body::Type(of::<Vec<Spend>>),
    },
    Route {
        method: "put",
        path: "/api/v1/sites/{site}/spend",
        summary: "Imports campaign spend (admins): rows in other currencies converted at the given rates, refused without one; a row replaces one of the same day, source, medium and campaign",
        tag: "spend",
        auth: Auth::Session,
        request: Body::Type(of::<SpendImport>),
        response: Body::Inline(
            r#"{"type": "object", "required": ["imported", "currency"], "properties": {"imported": {"type": "integer"}, "currency": {"type": "string"}}}"#,
        ),
    },
    Route {
        method: "delete",
        path: "/api/v1/sites/{site}/spend",
        summary: "Deletes the spend of the days `from` to `to` (admins)",
        tag: "spend",
        auth: Auth::Session,
        request: Body::Empty,
        response: Body::Inline(
            r#"{"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "integer"}}}"#,
        ),
    },
];

fn schema(b: Body, g: &mut SchemaGenerator) -> Option<Value> {
    match b {
        Body::Empty => None,
        Body::Type(f) => Some(f(g).to_value()),
        Body::Inline(t) => serde_json::from_str(t).ok(),
    }
}

/// The document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut g = settings.into_generator();
    let mut paths = Map::new();
    for r in ROUTES {
        let mut op = json!({
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": format!("{}{}", r.method, r.path.replace(['/', '{', '}', '.'], "_")),
        });
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        op["security"] = match r.auth {
            Auth::None => json!([]),
            Auth::WriteKey => json!([{"key": []}]),
            Auth::Basic => json!([{"basic": []}]),
            Auth::ReadOrSession => json!([{"key": []}, {"session": []}]),
            Auth::Session => json!([{"session": []}]),
        };
        if let Some(s) = schema(r.request, &mut g) {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": s}}});
        }
        let mut responses = Map::new();
        let ok = match schema(r.response, &mut g) {
            Some(s) => {
                json!({"description": "Success", "content": {"application/json": {"schema": s}}})
            }
            None => json!({"description": "Success"}),
        };
        responses.insert("2XX".into(), ok);
        responses.insert(
            "4XX".into(),
            json!({"description": "Refused: the error says why", "content": {"application/json": {"schema": serde_json::from_str::<Value>(ERROR).unwrap_or(Value::Null)}}}),
        );
        op["responses"] = Value::Object(responses);
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method] = op;
    }
    let mut schemas = g.take_definitions(true);
    schemas.insert(
        "TrackerEvent".into(),
        json!({"type": "object", "required": ["site", "name", "url"], "properties": {
            "type": {"enum": ["event", "identify"]}, "site": {"type": "string"}, "name": {"type": "string"},
            "url": {"type": "string"}, "referrer": {"type": "string"}, "props": {"type": "object"},
            "revenue": {"type": "object", "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}}},
            "screen": {"type": "string"}, "language": {"type": "string"}, "vid": {"type": "string"},
            "age": {"type": "integer", "minimum": 0, "maximum": 86_400_000}, "user": {"type": "string"}},
            "additionalProperties": false}),
    );
    schemas.insert(
        "User".into(),
        serde_json::from_str(USER).unwrap_or(Value::Null),
    );
    schemas.insert(
        "Site".into(),
        serde_json::from_str(SITE).unwrap_or(Value::Null),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Cairn",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Self-hosted micro-conversion analytics. Guides: docs/ingestion.md, docs/queries.md, docs/api.md."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "key": {"type": "http", "scheme": "bearer", "description": "A site's read (cairn_r_…) or write (cairn_w_…) key"},
                "basic": {"type": "http", "scheme": "basic", "description": "A site's write key as the user name (Segment)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cairn_session", "description": "A dashboard session; non-GET requests also need X-CSRF-Token"}
            }
        }
    })
}

/// `GET /api/openapi.json`.
pub(crate) async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}
