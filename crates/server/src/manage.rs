//! Management endpoints: sites, their keys, goals, funnels and page grouping rules. Users need a role on the
//! site (viewer to read, admin to change; superusers may add sites); read keys may read
//! their own site's goals and funnels. Goals and funnels are checked as the query spec
//! checks them (docs/queries.md) and kept in `meta.sqlite`; queries see them by name.
//!
//! | endpoint | needs |
//! |---|---|
//! | `GET /api/v1/sites` | any login: the sites it may see |
//! | `POST /api/v1/sites` `{"domain", "timezone"?, "identity"?}` | superuser; answers the write key once |
//! | `PATCH /api/v1/sites/{site}` `{"timezone"?, "identity"?}` | admin |
//! | `GET`, `POST` `{"scope": "read"\|"write"}` `/api/v1/sites/{site}/keys`; `DELETE …/keys/{prefix}` | admin |
//! | `GET /api/v1/sites/{site}/goals`, `…/funnels` | viewer, read key |
//! | `PUT`, `DELETE /api/v1/sites/{site}/goals/{name}`, `…/funnels/{name}` | admin |
//! | `GET /api/v1/sites/{site}/page-groups` | viewer, read key |
//! | `PUT /api/v1/sites/{site}/page-groups` (the whole ordered list) | admin |
//! | `GET /api/v1/sites/{site}/spend?from&to` | viewer, read key |
//! | `PUT /api/v1/sites/{site}/spend` (an import: rows, currency, rates) | admin |
//! | `DELETE /api/v1/sites/{site}/spend?from&to` | admin |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cairn_meta::{Scope, VisitorIdMode};
use cairn_model::query::{
    Definitions, ExperimentDef, FunnelSpec, Goal, PageGroup, PageRules, SpendImport,
};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Need, Principal, allow};
use crate::body::json_object;
use crate::error::{ApiError, Reply};

/// The caller, if a superuser; else 403 with `refusal`.
fn superuser(p: &Principal, refusal: &str) -> Result<(), ApiError> {
    match p {
        Principal::User { user, .. } if user.superuser => Ok(()),
        _ => Err(ApiError::forbidden(refusal)),
    }
}

fn site_json(s: &cairn_meta::Site, role: Option<&str>) -> Value {
    let mut v = json!({"site": s.domain, "timezone": s.timezone, "identity": s.identity.as_str()});
    if let Some(r) = role {
        v["role"] = r.into();
    }
    v
}

/// `GET /api/v1/sites`.
pub(crate) async fn sites(State(st): State<Arc<AppState>>, p: Principal) -> Reply {
    let visible = st
        .meta
        .read(move |meta| -> Result<Vec<Value>, cairn_meta::MetaError> {
            let all = meta.sites()?;
            Ok(match &p {
                Principal::Key { site, .. } => all
                    .iter()
                    .filter(|s| &s.domain == site)
                    .map(|s| site_json(s, None))
                    .collect(),
                Principal::User { user, .. } => {
                    let roles = meta.roles(user)?;
                    all.iter()
                        .filter_map(|s| {
                            roles
                                .iter()
                                .find(|(d, _)| d == &s.domain)
                                .map(|(_, r)| site_json(s, Some(r.as_str())))
                        })
                        .collect()
                }
            })
        })
        .await?
        .map_err(ApiError::internal)?;
    Ok(axum::Json(visible).into_response())
}

fn identity_of(v: &Value) -> Result<Option<VisitorIdMode>, ApiError> {
    match v.get("identity") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => VisitorIdMode::parse(s).map(Some).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "identity: `{s}` is neither `cookieless` nor `first-party`"
            ))
        }),
        Some(_) => Err(ApiError::unprocessable("identity: must be a string")),
    }
}

/// `POST /api/v1/sites`.
pub(crate) async fn add_site(State(st): State<Arc<AppState>>, p: Principal, body: Bytes) -> Reply {
    superuser(&p, "only a superuser may add sites")?;
    let v = json_object(&body)?;
    let Some(domain) = v["domain"].as_str().map(str::to_string) else {
        return Err(ApiError::unprocessable("domain: is missing"));
    };
    let tz = v["timezone"].as_str().unwrap_or("UTC").to_string();
    let identity = identity_of(&v)?;
    st.meta
        .write(move |meta| match meta.add_site(&domain, &tz) {
            Ok((mut site, key)) => {
                if let Some(i) = identity {
                    meta.set_identity(&domain, i).map_err(ApiError::internal)?;
                    site.identity = i;
                }
                let mut out = site_json(&site, Some("admin"));
                out["write_key"] = key.into();
                Ok((StatusCode::CREATED, axum::Json(out)).into_response())
            }
            Err(cairn_meta::MetaError::SiteExists(d)) => Err(ApiError::conflict(format!(
                "site {d} is registered already"
            ))),
            Err(e) => Err(ApiError::unprocessable(e)),
        })
        .await?
}

/// `PATCH /api/v1/sites/{site}`.
pub(crate) async fn patch_site(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
    body: Bytes,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let v = json_object(&body)?;
    let identity = identity_of(&v)?;
    let tz = v["timezone"].as_str().map(str::to_string);
    st.meta
        .write(move |meta| {
            if let Some(tz) = tz {
                meta.set_timezone(&site, &tz)
                    .map_err(ApiError::unprocessable)?;
            }
            if let Some(i) = identity {
                meta.set_identity(&site, i)
                    .map_err(ApiError::unprocessable)?;
            }
            match meta.site(&site) {
                Ok(Some(s)) => Ok(axum::Json(site_json(&s, None)).into_response()),
                Ok(None) => Err(ApiError::not_found("no such site")),
                Err(e) => Err(ApiError::internal(e)),
            }
        })
        .await?
}

/// `GET /api/v1/sites/{site}/keys`.
pub(crate) async fn keys(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let k = st
        .meta
        .read(move |m| m.keys(&site))
        .await?
        .map_err(ApiError::internal)?;
    Ok(axum::Json(
        k.iter()
            .map(|k| json!({"prefix": k.prefix, "scope": match k.scope { Scope::Read => "read", Scope::Write => "write" }, "created": cairn_model::format_rfc3339_ms(k.created_ms)}))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// `POST /api/v1/sites/{site}/keys`.
pub(crate) async fn add_key(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
    body: Bytes,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let v = json_object(&body)?;
    let scope = match v["scope"].as_str() {
        Some("read") | None => Scope::Read,
        Some("write") => Scope::Write,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "scope: `{other}` is neither `read` nor `write`"
            )));
        }
    };
    let key = st
        .meta
        .write(move |m| m.add_key(&site, scope))
        .await?
        .map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, axum::Json(json!({"key": key}))).into_response())
}

/// `DELETE /api/v1/sites/{site}/keys/{prefix}`.
pub(crate) async fn revoke_key(
    State(st): State<Arc<AppState>>,
    Path((site, prefix)): Path<(String, String)>,
    p: Principal,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let (s, pr) = (site.clone(), prefix.clone());
    let found = st
        .meta
        .write(move |m| m.revoke_key(&s, &pr))
        .await?
        .map_err(ApiError::internal)?;
    if found {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("no key {prefix}… on {site}")))
    }
}

/// A site's stored goals and funnels, as read by `meta`.
fn definitions(meta: &cairn_meta::Meta, site: &str) -> Result<Definitions, ApiError> {
    match meta.definitions(site).map_err(ApiError::internal)? {
        Some(j) => serde_json::from_str(&j).map_err(ApiError::internal),
        None => Ok(Definitions::default()),
    }
}

/// A site's stored goals and funnels.
pub(crate) async fn stored(st: &AppState, site: &str) -> Result<Definitions, ApiError> {
    let site = site.to_string();
    st.meta.read(move |m| definitions(m, &site)).await?
}

/// Changes a site's definitions with `change`, in one transaction of the registry's
/// writer (no change made meanwhile is lost); a change that breaks a funnel (a goal it
/// names deleted or renamed) is refused with `409`.
async fn update<T: Send + 'static>(
    st: &AppState,
    site: &str,
    change: impl FnOnce(&mut Definitions) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let site = site.to_string();
    st.meta
        .write(move |meta| {
            let mut d = definitions(meta, &site)?;
            let out = change(&mut d)?;
            d.validate()
                .map_err(|e| ApiError::conflict(e.to_string()))?;
            let j = serde_json::to_string(&d).map_err(ApiError::internal)?;
            meta.set_definitions(&site, &j)
                .map_err(ApiError::internal)?;
            Ok(out)
        })
        .await?
}

/// `GET /api/v1/sites/{site}/goals`.
pub(crate) async fn goals(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
) -> Reply {
    allow(&st, &p, &site, Need::Read).await?;
    Ok(axum::Json(stored(&st, &site).await?.goals).into_response())
}

/// `GET /api/v1/sites/{site}/funnels`.
pub(crate) async fn funnels(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
) -> Reply {
    allow(&st, &p, &site, Need::Read).await?;
    Ok(axum::Json(stored(&st, &site).await?.funnels).into_response())
}

/// `GET /api/v1/sites/{site}/page-groups`: the site's page grouping rules, in order.
pub(crate) async fn page_groups(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
) -> Reply {
    allow(&st, &p, &site, Need::Read).await?;
    Ok(axum::Json(stored(&st, &site).await?.page_groups).into_response())
}

/// `PUT /api/v1/sites/{site}/page-groups`: replaces the whole ordered list of page
/// grouping rules (the order decides which rule a path takes). They apply to every
/// query from now on, over every event already stored.
pub(crate) async fn put_page_groups(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
    body: Bytes,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let rules: Vec<PageGroup> = definition(&body)?;
    PageRules::new(&rules, "page_groups").map_err(ApiError::unprocessable)?;
    let saved_rules = rules.clone();
    update(&st, &site, move |d| {
        d.page_groups = rules;
        Ok(())
    })
    .await?;
    Ok(axum::Json(saved_rules).into_response())
}

/// `from` and `to` (days, inclusive) from a query string; both or neither.
fn day_range(
    params: &std::collections::HashMap<String, String>,
) -> Result<Option<(chrono::NaiveDate, chrono::NaiveDate)>, ApiError> {
    let day = |k: &str| -> Result<Option<chrono::NaiveDate>, ApiError> {
        params
            .get(k)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::unprocessable(format!("{k}: `{v}` is not a day: write 2026-09-01"))
                })
            })
            .transpose()
    };
    match (day("from")?, day("to")?) {
        (Some(a), Some(b)) if b < a => Err(ApiError::unprocessable("to: is before `from`")),
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        _ => Err(ApiError::unprocessable(
            "give both `from` and `to`, or neither",
        )),
    }
}

/// `GET /api/v1/sites/{site}/spend?from=DAY&to=DAY`: the site's campaign spend, per day,
/// source, medium and campaign, in its one currency.
pub(crate) async fn spend(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Reply {
    allow(&st, &p, &site, Need::Read).await?;
    let range = day_range(&params)?;
    let rows = st
        .meta
        .read(move |m| m.spend(&site, range).map_err(ApiError::internal))
        .await??;
    Ok(axum::Json(rows).into_response())
}

/// `PUT /api/v1/sites/{site}/spend`: imports spend (docs/campaigns.md). Rows in another
/// currency than the import's are converted at the rates it gives, refused without one;
/// a row replaces a stored one of the same day, source, medium and campaign. All or
/// nothing: `422` names the first row at fault.
pub(crate) async fn put_spend(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
    body: Bytes,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let import: SpendImport = definition(&body)?;
    let rows = import.converted().map_err(ApiError::unprocessable)?;
    let currency = import.currency.clone();
    let n = st
        .meta
        .write(move |m| match m.import_spend(&site, &rows) {
            Ok(n) => Ok(n),
            Err(e @ cairn_meta::MetaError::SpendCurrency { .. }) => {
                Err(ApiError::conflict(e.to_string()))
            }
            Err(e) => Err(ApiError::internal(e)),
        })
        .await??;
    Ok(axum::Json(json!({"imported": n, "currency": currency})).into_response())
}

/// `DELETE /api/v1/sites/{site}/spend?from=DAY&to=DAY`: deletes the spend of those days.
pub(crate) async fn delete_spend(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let Some((from, to)) = day_range(&params)? else {
        return Err(ApiError::unprocessable(
            "give the days to delete: `from` and `to`",
        ));
    };
    let n = st
        .meta
        .write(move |m| m.delete_spend(&site, from, to).map_err(ApiError::internal))
        .await??;
    Ok(axum::Json(json!({"deleted": n})).into_response())
}

/// `GET /api/v1/sites/{site}/ignored`: events answered but not stored over the last
/// hour, per reason (bots, unsupported Segment messages).
pub(crate) async fn ignored(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
) -> Reply {
    allow(&st, &p, &site, Need::Read).await?;
    let counts = st.ignored.last_hour(&site, crate::now_ms());
    Ok(axum::Json(json!({
        "site": site,
        "minutes": crate::ignored::WINDOW_MINUTES,
        "ignored": counts,
    }))
    .into_response())
}

/// `GET /api/v1/sites/{site}/live?limit=N`: the last events that arrived (at most
/// `limit`, default 50, up to [`crate::live::KEPT`]), newest first, ignored ones with why.
pub(crate) async fn live(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Reply {
    allow(&st, &p, &site, Need::Read).await?;
    let kept = crate::live::KEPT;
    let limit = match params.get("limit") {
        None => 50,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=kept).contains(&n) => n,
            _ => {
                return Err(ApiError::unprocessable(format!(
                    "limit: `{v}` is not a number of events from 1 to {kept}"
                )));
            }
        },
    };
    let events = st.live.last(&site, limit);
    Ok(axum::Json(crate::live::LiveEvents { events, kept }).into_response())
}

/// A goal or funnel from a body: `422` naming the field at fault.
fn definition<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de)
        .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.path().clone(), e.into_inner())))
}

/// `201` for a definition created, `200` for one replaced.
fn saved<T: serde::Serialize>(created: bool, v: T) -> Reply {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(v)).into_response())
}

/// `PUT /api/v1/sites/{site}/goals/{name}`: creates or replaces a goal.
pub(crate) async fn put_goal(
    State(st): State<Arc<AppState>>,
    Path((site, name)): Path<(String, String)>,
    p: Principal,
    body: Bytes,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let goal: Goal = definition(&body)?;
    cairn_model::query::validate_goals(std::slice::from_ref(&goal), "goal")
        .map_err(ApiError::unprocessable)?;
    if goal.name != name {
        return Err(ApiError::unprocessable(format!(
            "name: the goal is `{}` but the URL says `{name}`",
            goal.name
        )));
    }
    let g = goal.clone();
    let created = update(&st, &site, move |d| {
        Ok(match d.goals.iter_mut().find(|x| x.name == g.name) {
            Some(x) => {
                *x = g;
                false
            }
            None => {
                d.goals.push(g);
                true
            }
        })
    })
    .await?;
    saved(created, goal)
}

/// `PUT /api/v1/sites/{site}/funnels/{name}`: creates or replaces a funnel.
pub(crate) async fn put_funnel(
    State(st): State<Arc<AppState>>,
    Path((site, name)): Path<(String, String)>,
    p: Principal,
    body: Bytes,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let f: FunnelSpec = definition(&body)?;
    cairn_model::query::check_name("name", &name)
        .and_then(|()| f.validate("funnel"))
        .map_err(ApiError::unprocessable)?;
    let f2 = f.clone();
    let created = update(&st, &site, move |d| {
        Ok(d.funnels.insert(name, f2).is_none())
    })
    .await?;
    saved(created, f)
}

/// `GET /api/v1/sites/{site}/experiments`: the experiments kept for the site, by key.
pub(crate) async fn experiments(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    p: Principal,
) -> Reply {
    allow(&st, &p, &site, Need::Read).await?;
    Ok(axum::Json(stored(&st, &site).await?.experiments).into_response())
}

/// `PUT /api/v1/sites/{site}/experiments/{key}`: keeps an experiment (variants, weights,
/// metrics, guardrails, MDE, start and stop); its metrics must be the site's goals.
pub(crate) async fn put_experiment(
    State(st): State<Arc<AppState>>,
    Path((site, key)): Path<(String, String)>,
    p: Principal,
    body: Bytes,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let x: ExperimentDef = definition(&body)?;
    cairn_model::query::check_name("key", &key).map_err(ApiError::unprocessable)?;
    let x2 = x.clone();
    let created = update(&st, &site, move |d| {
        x2.validate(&d.goals, "experiment")
            .and_then(|()| x2.validate_funnels(&d.funnels, "experiment"))
            .map_err(ApiError::unprocessable)?;
        Ok(d.experiments.insert(key, x2).is_none())
    })
    .await?;
    saved(created, x)
}

/// `DELETE /api/v1/sites/{site}/experiments/{key}`: forgets the definition (the events
/// stay, and the experiment can still be read by its key).
pub(crate) async fn delete_experiment(
    State(st): State<Arc<AppState>>,
    Path((site, key)): Path<(String, String)>,
    p: Principal,
) -> Reply {
    delete(&st, &p, site, key, Kind::Experiments).await
}

/// Which list an endpoint works on.
#[derive(Clone, Copy)]
enum Kind {
    Goals,
    Funnels,
    Experiments,
}

/// `DELETE /api/v1/sites/{site}/goals/{name}` and `…/funnels/{name}`.
async fn delete(st: &AppState, p: &Principal, site: String, name: String, kind: Kind) -> Reply {
    allow(st, p, &site, Need::Admin).await?;
    let s = site.clone();
    update(st, &site, move |d| {
        let found = match kind {
            Kind::Goals => {
                let n = d.goals.len();
                d.goals.retain(|g| g.name != name);
                d.goals.len() < n
            }
            Kind::Funnels => d.funnels.remove(&name).is_some(),
            Kind::Experiments => d.experiments.remove(&name).is_some(),
        };
        if found {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("no `{name}` on {s}")))
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/sites/{site}/goals/{name}`.
pub(crate) async fn delete_goal(
    State(st): State<Arc<AppState>>,
    Path((site, name)): Path<(String, String)>,
    p: Principal,
) -> Reply {
    delete(&st, &p, site, name, Kind::Goals).await
}

/// `DELETE /api/v1/sites/{site}/funnels/{name}`.
pub(crate) async fn delete_funnel(
    State(st): State<Arc<AppState>>,
    Path((site, name)): Path<(String, String)>,
    p: Principal,
) -> Reply {
    delete(&st, &p, site, name, Kind::Funnels).await
}

/// `GET /api/v1/users`: superusers see every user and their roles; a site admin sees
/// the users with a role on the sites they administer.
pub(crate) async fn users(State(st): State<Arc<AppState>>, p: Principal) -> Reply {
    let Principal::User { user, .. } = p else {
        return Err(ApiError::forbidden("log in to see users"));
    };
    let out = st
        .meta
        .read(move |meta| -> Result<Vec<Value>, cairn_meta::MetaError> {
            let mine = meta.roles(&user)?;
            let admin_of: Vec<&str> = mine
                .iter()
                .filter(|(_, r)| *r == cairn_meta::Role::Admin)
                .map(|(d, _)| d.as_str())
                .collect();
            let mut out = Vec::new();
            for u in meta.users()? {
                let roles = meta.roles(&u)?;
                let shown: Vec<Value> = roles
                    .iter()
                    .filter(|(d, _)| user.superuser || admin_of.contains(&d.as_str()))
                    .map(|(d, r)| json!({"site": d, "role": r.as_str()}))
                    .collect();
                if user.superuser || !shown.is_empty() {
                    out.push(json!({"email": u.email, "superuser": u.superuser, "sites": shown}));
                }
            }
            Ok(out)
        })
        .await?
        .map_err(ApiError::internal)?;
    Ok(axum::Json(out).into_response())
}

/// `POST /api/v1/users` `{"email", "password"}`: superusers add users.
pub(crate) async fn add_user(State(st): State<Arc<AppState>>, p: Principal, body: Bytes) -> Reply {
    superuser(&p, "only a superuser may add users")?;
    let v = json_object(&body)?;
    let (Some(email), Some(password)) = (v["email"].as_str(), v["password"].as_str()) else {
        return Err(ApiError::unprocessable(
            "send {\"email\": …, \"password\": …}",
        ));
    };
    // Argon2 hashes outside the registry's lock; only the insert takes it.
    let (email, password) = (email.to_string(), password.to_string());
    let new =
        tokio::task::spawn_blocking(move || cairn_meta::NewUser::new(&email, &password, false))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::unprocessable)?;
    let u = st
        .meta
        .write(move |m| m.insert_user(new))
        .await?
        .map_err(ApiError::unprocessable)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"email": u.email, "superuser": false, "sites": []})),
    )
        .into_response())
}

/// `PUT /api/v1/users/{email}/sites/{site}` `{"role": "viewer"|"admin"|null}`: an admin of
/// the site (or a superuser) gives a user a role on it, or takes it away.
pub(crate) async fn grant(
    State(st): State<Arc<AppState>>,
    Path((email, site)): Path<(String, String)>,
    p: Principal,
    body: Bytes,
) -> Reply {
    allow(&st, &p, &site, Need::Admin).await?;
    let v = json_object(&body)?;
    let role = match &v["role"] {
        Value::Null => None,
        Value::String(s) => match cairn_meta::Role::parse(s) {
            Some(r) => Some(r),
            None => {
                return Err(ApiError::unprocessable(format!(
                    "role: `{s}` is neither `viewer` nor `admin`"
                )));
            }
        },
        _ => return Err(ApiError::unprocessable("role: `viewer`, `admin` or null")),
    };
    let (e2, s2) = (email.clone(), site.clone());
    match st.meta.write(move |m| m.grant(&e2, &s2, role)).await? {
        Ok(()) => Ok(axum::Json(
            json!({"email": email, "site": site, "role": role.map(|r| r.as_str())}),
        )
        .into_response()),
        Err(cairn_meta::MetaError::BadUser(e)) => Err(ApiError::not_found(e)),
        Err(e) => Err(ApiError::internal(e)),
    }
}
