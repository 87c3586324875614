//! Tenant isolation over the whole schema.
//!
//! The test reads the schema by introspection and, for every query and
//! mutation that takes an ID (a community's, or one of a community's
//! records), calls it with the ids of community A's records as staff of
//! community B, as a resident of community B and anonymously. Every call
//! must be refused with FORBIDDEN, NOT_FOUND or UNAUTHENTICATED, and the row
//! counts of every table must be the same afterwards.
//!
//! Arguments are built from the introspected types: IDs from a seeded
//! community A (chosen by the argument's name: `needId` → a row of `need`),
//! plausible strings, numbers, dates, the first value of an enum, and input
//! objects built the same way. A new operation is covered without editing
//! this file; only operations public by design are listed in `PUBLIC`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::credits_support;
use crate::lists_support;

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, Utc};
use linli::{TestApp, World, backend_tests};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

/// Who may call an operation on another community's records by design.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Public {
    /// Anyone, logged in or not.
    Everyone,
    /// Any logged-in user; anonymous callers are still refused.
    LoggedIn,
}

/// Operations that are public by design, and why.
const PUBLIC: &[(&str, Public)] = &[
    // The public directory of communities (name, street): what a resident
    // browses before asking to join; records below it need membership.
    ("community", Public::Everyone),
    // The public region directory (districts, streets, communities).
    ("region", Public::Everyone),
    ("regions", Public::Everyone),
    // The covenant in force is published to everyone (公约公示).
    ("covenant", Public::Everyone),
    // Anyone logged in may ask to join any community (a PENDING request
    // its staff then review).
    ("joinCommunity", Public::LoggedIn),
];

const REFUSALS: &[&str] = &["FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"];

const TYPE_REF: &str = "fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";

fn introspection_query() -> String {
    format!(
        "{{ __schema {{ queryType {{ fields {{ name args {{ name type {{ ...T }} }} type {{ ...T }} }} }}
           mutationType {{ fields {{ name args {{ name type {{ ...T }} }} type {{ ...T }} }} }}
           types {{ kind name enumValues {{ name }} inputFields {{ name type {{ ...T }} }} }} }} }} {TYPE_REF}"
    )
}

/// The named type below NON_NULL and LIST wrappers.
fn named(ty: &Value) -> (&str, &str) {
    let mut t = ty;
    while t["name"].is_null() {
        t = &t["ofType"];
    }
    (t["kind"].as_str().unwrap(), t["name"].as_str().unwrap())
}

/// The type as written in a variable definition: `[ID!]!`.
fn type_string(ty: &Value) -> String {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_string(&ty["ofType"])),
        "LIST" => format!("[{}]", type_string(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_string(),
    }
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

struct Schema {
    types: HashMap<String, Value>,
}

impl Schema {
    /// Whether values of this type carry an ID (directly or in an input's fields).
    fn carries_id(&self, ty: &Value, depth: usize) -> bool {
        let (kind, name) = named(ty);
        match kind {
            "SCALAR" => name == "ID",
            "INPUT_OBJECT" if depth < 4 => self.types[name]["inputFields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| self.carries_id(&f["type"], depth + 1)),
            _ => false,
        }
    }
}

/// Community A's records, by table, and the ids chosen for argument names.
struct Ids {
    world: World,
    by_table: BTreeMap<String, Uuid>,
}

impl Ids {
    /// The id for an argument `arg` of operation `field`.
    fn for_arg(&self, field: &str, arg: &str) -> Uuid {
        let w = &self.world;
        let key = if arg == "id" {
            snake(field)
        } else {
            snake(arg.trim_end_matches("Ids").trim_end_matches("Id"))
        };
        let last = key.rsplit('_').next().unwrap_or(&key).to_string();
        if key.contains("behalf") {
            return w.resident_a.id;
        }
        match last.as_str() {
            "community" | "region" => return w.community_a,
            "street" => return w.street_a,
            "user" | "voter" | "holder" | "leader" | "member" | "proxy" | "provider"
            | "requester" | "behalf" => return w.resident_a.id,
            "membership" => return w.resident_a.membership_id.unwrap(),
            _ => {}
        }
        let aliases: &[(&str, &str)] = &[
            ("account", "point_account"),
            ("item", "catalog_item"),
            ("comment", "proposal_comment"),
            ("parent", "proposal_comment"),
            ("team", "volunteer_team"),
            ("officer", "region_officer"),
            ("organisation", "organisation"),
        ];
        let table = aliases
            .iter()
            .find(|(k, _)| *k == last)
            .map(|(_, t)| t.to_string())
            .unwrap_or_else(|| last.clone());
        if let Some(id) = self.by_table.get(&table) {
            return *id;
        }
        // A table named like the whole key, or ending with it.
        if let Some((_, id)) = self
            .by_table
            .iter()
            .find(|(t, _)| **t == key || t.ends_with(&format!("_{last}")))
        {
            return *id;
        }
        eprintln!("no table for {field}({arg}): using community A's id");
        w.community_a
    }
}

async fn tables(app: &TestApp) -> Vec<String> {
    let sql = match app.db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let rows = app
        .db
        .query_all_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap();
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    names.sort();
    names
}

async fn columns(app: &TestApp, table: &str) -> Vec<String> {
    let backend = app.db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}'"
        ),
        _ => format!("SELECT name FROM pragma_table_info('{table}')"),
    };
    app.db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

async fn row_counts(app: &TestApp) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for table in tables(app).await {
        let n = app
            .count(&format!("SELECT COUNT(*) FROM \"{table}\""))
            .await;
        counts.insert(table, n);
    }
    counts
}

/// A row of each table that belongs to community A (or, for tables
/// without `community_id`, the newest row: the seed only adds A's records).
async fn community_a_rows(app: &TestApp, world: &World) -> BTreeMap<String, Uuid> {
    let backend = app.db.get_database_backend();
    let mut found = BTreeMap::new();
    for table in tables(app).await {
        let cols = columns(app, &table).await;
        if !cols.iter().any(|c| c == "id") {
            continue;
        }
        let statement = if cols.iter().any(|c| c == "community_id") {
            let placeholder = if backend == DbBackend::Postgres {
                "$1"
            } else {
                "?"
            };
            Statement::from_sql_and_values(
                backend,
                format!("SELECT id FROM \"{table}\" WHERE community_id = {placeholder} LIMIT 1"),
                [world.community_a.into()],
            )
        } else {
            Statement::from_string(
                backend,
                format!("SELECT id FROM \"{table}\" ORDER BY id DESC LIMIT 1"),
            )
        };
        if let Ok(Some(row)) = app.db.query_one_raw(statement).await
            && let Ok(id) = row.try_get_by_index::<Uuid>(0)
        {
            found.insert(table, id);
        }
    }
    found
}

/// Records of every domain in community A, made through the API.
async fn seed_community_a(app: &TestApp, w: &World) {
    use credits_support as credits;
    use lists_support as lists;
    let resource = lists::resource(app, &w.staff_a, w.community_a, "电钻", "GOODS", 3, &[]).await;
    let need = lists::accepted_need(app, &w.resident_a, &w.staff_a, w.community_a, "修水管").await;
    lists::project(
        app,
        &w.staff_a,
        w.community_a,
        "水管维修",
        &[&need],
        &[(&resource, 1)],
        1000,
    )
    .await;
    let proposal = app
        .gql(
            w.resident_a.token(),
            "mutation($c: ID!) { submitProposal(communityId: $c, title: \"加装路灯\", description: \"3栋门口太暗\") { id } }",
            json!({"c": w.community_a}),
        )
        .await;
    let proposal = lists::id(&proposal.data()["submitProposal"]);
    app.gql(
        w.resident_a.token(),
        "mutation($p: ID!) { commentProposal(proposalId: $p, body: \"赞成\") { id } }",
        json!({"p": proposal}),
    )
    .await
    .data();
    let council = app
        .gql(
            w.staff_a.token(),
            "mutation($c: ID!, $m: [ID!]!) { createCouncil(communityId: $c, name: \"议事会\", memberIds: $m) { id } }",
            json!({"c": w.community_a, "m": [w.resident_a.id, w.staff_a.id]}),
        )
        .await;
    let council = lists::id(&council.data()["createCouncil"]);
    app.gql(
        w.staff_a.token(),
        "mutation($c: ID!, $s: DateTime!) { scheduleMeeting(councilId: $c, title: \"议事\", startsAt: $s, proposalIds: [], quorum: 1, location: \"活动室\") { id } }",
        json!({"c": council, "s": Utc::now() + Duration::days(2)}),
    )
    .await
    .data();
    credits::give(app, w, &w.resident_a, 500).await;
    let item = credits::create_item(app, w, "雨伞", 10, 5).await;
    app.gql(
        w.resident_a.token(),
        credits::REDEEM,
        json!({"item": item, "q": 1, "key": Uuid::now_v7().to_string()}),
    )
    .await
    .data();
    let activity = credits::future_activity(app, w, 5, 60, 10).await;
    let volunteer = credits::household_member(app, w, "王志愿", "5栋", "501").await;
    credits::sign_up(app, &volunteer, &activity).await.data();
    app.gql(
        w.staff_a.token(),
        "mutation($c: ID!, $l: ID!) { createVolunteerTeam(communityId: $c, name: \"巡逻队\", leaderId: $l) { id } }",
        json!({"c": w.community_a, "l": volunteer.id}),
    )
    .await
    .data();
    app.gql(
        w.staff_a.token(),
        "mutation($r: ID!) { createOrganisation(regionId: $r, name: \"幸福社工站\", kind: SOCIAL_ORGANISATION) { id } }",
        json!({"r": w.community_a}),
    )
    .await
    .data();
    // A ballot on the proposal, once it is accepted.
    app.gql(
        w.staff_a.token(),
        "mutation($c: ID!) { updateConsultationSettings(communityId: $c, secondingKind: RESIDENTS, secondingValue: 1) { secondingValue } }",
        json!({"c": w.community_a}),
    )
    .await
    .data();
    app.gql(
        w.staff_a.token(),
        "mutation($p: ID!) { secondProposal(proposalId: $p) { id } }",
        json!({"p": proposal}),
    )
    .await
    .data();
    app.gql(
        w.staff_a.token(),
        "mutation($p: ID!) { acceptProposal(proposalId: $p) { id } }",
        json!({"p": proposal}),
    )
    .await
    .data();
    app.gql(
        w.staff_a.token(),
        "mutation($p: ID!, $at: DateTime!) { openBallot(proposalId: $p, electorate: RESIDENTS, passRule: MAJORITY_OF_CAST, quorum: 1, secret: false, closesAt: $at) { id } }",
        json!({"p": proposal, "at": Utc::now() + Duration::days(2)}),
    )
    .await
    .data();
}

struct Builder<'a> {
    schema: &'a Schema,
    ids: &'a Ids,
    /// Which value of each enum to use (the first, the second, …).
    enum_offset: usize,
}

impl Builder<'_> {
    fn value(&self, field: &str, arg: &str, ty: &Value, depth: usize) -> Value {
        match ty["kind"].as_str().unwrap() {
            "NON_NULL" => self.value(field, arg, &ty["ofType"], depth),
            "LIST" => Value::Array(vec![self.value(field, arg, &ty["ofType"], depth)]),
            "ENUM" => {
                let name = ty["name"].as_str().unwrap();
                let values = self.schema.types[name]["enumValues"].as_array().unwrap();
                values[self.enum_offset % values.len()]["name"].clone()
            }
            "INPUT_OBJECT" => {
                let name = ty["name"].as_str().unwrap();
                let mut object = serde_json::Map::new();
                for f in self.schema.types[name]["inputFields"].as_array().unwrap() {
                    let required = f["type"]["kind"] == "NON_NULL";
                    if required || (depth < 3 && self.schema.carries_id(&f["type"], 0)) {
                        let fname = f["name"].as_str().unwrap();
                        object.insert(
                            fname.to_string(),
                            self.value(field, fname, &f["type"], depth + 1),
                        );
                    }
                }
                Value::Object(object)
            }
            _ => self.scalar(field, arg, ty["name"].as_str().unwrap()),
        }
    }

    fn scalar(&self, field: &str, arg: &str, name: &str) -> Value {
        let lower = arg.to_lowercase();
        match name {
            "ID" => json!(self.ids.for_arg(field, arg).to_string()),
            "Int" => json!(1),
            "Float" => json!(1.0),
            "Boolean" => json!(true),
            "DateTime" if lower.contains("from") || lower.contains("start") => {
                json!(Utc::now() - Duration::days(30))
            }
            "DateTime" if lower == "to" => json!(Utc::now()),
            "DateTime" => json!(Utc::now() + Duration::days(3)),
            _ if lower.contains("phone") => json!("13912345678"),
            _ if lower.contains("key") => json!(Uuid::now_v7().to_string()),
            _ if lower.contains("date") => json!("2026-11-22"),
            _ if lower.contains("url") => json!("https://example.com/m"),
            _ => json!("测试内容"),
        }
    }
}

fn selection(ty: &Value) -> &'static str {
    match named(ty).0 {
        "OBJECT" | "INTERFACE" | "UNION" => " { __typename }",
        _ => "",
    }
}

/// How many enum values the arguments of `field` have at most (1 without enums).
fn enum_variants(schema: &Schema, field: &Value) -> usize {
    field["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            let (kind, name) = named(&a["type"]);
            (kind == "ENUM").then(|| schema.types[name]["enumValues"].as_array().unwrap().len())
        })
        .max()
        .unwrap_or(1)
        .min(4)
}

/// The calls to make of one operation (its text and variables): required
/// arguments, with each optional ID argument in turn (some are exclusive,
/// like a resource's provider or organisation).
fn calls(b: &Builder, keyword: &str, field: &Value) -> Vec<(String, Value)> {
    let name = field["name"].as_str().unwrap();
    let args = field["args"].as_array().unwrap();
    if !args.iter().any(|a| b.schema.carries_id(&a["type"], 0)) {
        return Vec::new();
    }
    let optional_ids: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| a["type"]["kind"] != "NON_NULL" && b.schema.carries_id(&a["type"], 0))
        .map(|(i, _)| i)
        .collect();
    let choices: Vec<Option<usize>> = if optional_ids.is_empty() {
        vec![None]
    } else {
        optional_ids.into_iter().map(Some).collect()
    };
    let mut out = Vec::new();
    for choice in choices {
        let mut definitions = Vec::new();
        let mut passed = Vec::new();
        let mut variables = serde_json::Map::new();
        for (i, a) in args.iter().enumerate() {
            let required = a["type"]["kind"] == "NON_NULL";
            if !required && choice != Some(i) {
                continue;
            }
            let arg = a["name"].as_str().unwrap();
            definitions.push(format!("$v{i}: {}", type_string(&a["type"])));
            passed.push(format!("{arg}: $v{i}"));
            variables.insert(format!("v{i}"), b.value(name, arg, &a["type"], 0));
        }
        let text = format!(
            "{keyword} Isolation({}) {{ {name}({}){} }}",
            definitions.join(", "),
            passed.join(", "),
            selection(&field["type"])
        );
        out.push((text, Value::Object(variables)));
    }
    out
}

async fn every_operation_refuses_other_communities(app: TestApp) {
    let world = app.world().await;
    seed_community_a(&app, &world).await;
    let by_table = community_a_rows(&app, &world).await;
    for table in [
        "need",
        "resource",
        "project",
        "proposal",
        "point_account",
        "activity",
        "ballot",
        "volunteer_team",
        "organisation",
    ] {
        assert!(by_table.contains_key(table), "seeded {table}: {by_table:?}");
    }
    let ids = Ids {
        world: world.clone(),
        by_table,
    };

    let introspected = app.gql(None, &introspection_query(), json!({})).await;
    let schema_json = introspected.data()["__schema"].clone();
    let schema = Schema {
        types: schema_json["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
            .collect(),
    };
    let callers = [
        ("staff of B", world.staff_b.token()),
        ("resident of B", world.resident_b.token()),
        ("anonymous", None),
    ];

    let before = row_counts(&app).await;
    let mut failures = Vec::new();
    let mut covered = 0;
    // A control: community A's own staff get answers to most of the same
    // queries, so the ids really are A's records.
    // (Run after the counts are compared: reading one's own account creates it.)
    let mut controls = Vec::new();
    for (keyword, root) in [("query", "queryType"), ("mutation", "mutationType")] {
        for field in schema_json[root]["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap();
            let mut variants = Vec::new();
            for enum_offset in 0..enum_variants(&schema, field) {
                let builder = Builder {
                    schema: &schema,
                    ids: &ids,
                    enum_offset,
                };
                variants.extend(calls(&builder, keyword, field));
            }
            if variants.is_empty() {
                continue;
            }
            let public = PUBLIC.iter().find(|(p, _)| *p == name).map(|(_, p)| *p);
            covered += 1;
            if keyword == "query" {
                controls.push((name.to_string(), variants[0].clone()));
            }
            for (who, token) in callers {
                match public {
                    Some(Public::Everyone) => continue,
                    Some(Public::LoggedIn) if token.is_some() => continue,
                    _ => {}
                }
                // Every call is refused, or (for some argument values) its
                // input is found wrong before anything is looked up; at least
                // one is refused.
                let mut refused = false;
                for (text, variables) in &variants {
                    let response = app.gql(token, text, variables.clone()).await;
                    match response.error_code().as_deref() {
                        Some(code) if REFUSALS.contains(&code) => refused = true,
                        Some("BAD_USER_INPUT") => {}
                        _ => failures.push(format!(
                            "{name} as {who}: {}\n  {text}\n  {variables}",
                            response.body
                        )),
                    }
                }
                if !refused {
                    failures.push(format!(
                        "{name} as {who}: never refused, only BAD_USER_INPUT\n  {:?}",
                        variants[0]
                    ));
                }
            }
        }
    }
    eprintln!("{covered} operations checked");
    let after = row_counts(&app).await;
    let owner_asked = controls.len();
    let mut owner_answered = 0;
    for (name, (text, variables)) in &controls {
        let response = app
            .gql(world.staff_a.token(), text, variables.clone())
            .await;
        if response.body.get("errors").is_none() {
            owner_answered += 1;
        } else {
            eprintln!(
                "staff of A: {name}: {}",
                response.body["errors"][0]["message"]
            );
        }
    }
    assert!(
        owner_answered * 2 > owner_asked,
        "the generated ids must point at community A's records: staff of A got an answer to only {owner_answered} of {owner_asked} queries"
    );
    assert!(covered >= 40, "only {covered} operations take an id");
    assert!(
        failures.is_empty(),
        "{} calls were not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let changed: Vec<_> = before
        .iter()
        .filter(|(t, n)| after.get(*t) != Some(n))
        .map(|(t, n)| format!("{t}: {n} → {:?}", after.get(t)))
        .collect();
    assert!(
        changed.is_empty(),
        "another community's calls changed the database: {changed:?}"
    );
}

backend_tests!(every_operation_refuses_other_communities);
