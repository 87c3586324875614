//! The raw comparator: a hand-written actix-web + sqlx handler answering R1
//! (one need by id) and R2 (a page of 20 needs with requester and project,
//! one joined query) with the same JSON as Linli's answer. No GraphQL, no
//! authentication, no authorisation: the practical ceiling.

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

const R1_SQL_PG: &str =
    "SELECT id, title, category, urgency, status, created_at FROM need WHERE id = $1";
const R1_SQL_LITE: &str =
    "SELECT id, title, category, urgency, status, created_at FROM need WHERE id = ?";
macro_rules! r2_sql {
    ($p:literal) => {
        concat!(
            "SELECT n.id, n.title, n.category, n.urgency, n.status, n.created_at, \
     u.id AS u_id, u.display_name, p.id AS p_id, p.title AS p_title, p.status AS p_status \
     FROM need n JOIN users u ON u.id = n.requester_id \
     LEFT JOIN project p ON p.id = n.project_id \
     WHERE n.community_id = ",
            $p,
            " ORDER BY n.id LIMIT 21"
        )
    };
}

fn need_json(row: &impl NeedRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "id": row.uuid("id")?.to_string(),
        "title": row.text("title")?,
        "category": row.text("category")?,
        "urgency": row.text("urgency")?,
        "status": row.text("status")?,
        "createdAt": row.time("created_at")?.to_rfc3339(),
    }))
}

/// The columns read, over either back end's row type.
trait NeedRow {
    fn uuid(&self, col: &str) -> Result<Uuid, sqlx::Error>;
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, sqlx::Error>;
    fn text(&self, col: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    fn time(&self, col: &str) -> Result<DateTime<Utc>, sqlx::Error>;
}

macro_rules! need_row {
    ($row:ty) => {
        impl NeedRow for $row {
            fn uuid(&self, col: &str) -> Result<Uuid, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, sqlx::Error> {
                self.try_get(col)
            }
            fn text(&self, col: &str) -> Result<String, sqlx::Error> {
                self.try_get(col)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(col)
            }
            fn time(&self, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
                self.try_get(col)
            }
        }
    };
}
need_row!(sqlx::sqlite::SqliteRow);
need_row!(sqlx::postgres::PgRow);

fn page_json<R: NeedRow>(rows: &[R]) -> Result<Value, sqlx::Error> {
    let has_next = rows.len() > 20;
    let mut edges = Vec::with_capacity(20);
    for row in rows.iter().take(20) {
        let mut node = need_json(row)?;
        node["requester"] =
            json!({"id": row.uuid("u_id")?.to_string(), "displayName": row.text("display_name")?});
        node["project"] = match row.opt_uuid("p_id")? {
            Some(id) => {
                json!({"id": id.to_string(), "title": row.opt_text("p_title")?, "status": row.opt_text("p_status")?})
            }
            None => Value::Null,
        };
        edges.push(json!({ "node": node }));
    }
    let end = rows
        .iter()
        .take(20)
        .last()
        .map(|r| r.uuid("id"))
        .transpose()?;
    Ok(json!({"data": {"needs": {
        "edges": edges,
        "pageInfo": {"endCursor": end.map(|id| id.to_string()), "hasNextPage": has_next}
    }}}))
}

fn id_field(body: &Value, field: &str) -> Option<Uuid> {
    body.get(field)?.as_str()?.parse().ok()
}

async fn r1(pool: web::Data<Pool>, body: web::Json<Value>) -> HttpResponse {
    let Some(id) = id_field(&body, "id") else {
        return HttpResponse::BadRequest().finish();
    };
    let answer = match pool.get_ref() {
        Pool::Sqlite(p) => match sqlx::query(R1_SQL_LITE).bind(id).fetch_optional(p).await {
            Ok(row) => row.as_ref().map(need_json).transpose(),
            Err(e) => Err(e),
        },
        Pool::Postgres(p) => match sqlx::query(R1_SQL_PG).bind(id).fetch_optional(p).await {
            Ok(row) => row.as_ref().map(need_json).transpose(),
            Err(e) => Err(e),
        },
    };
    match answer {
        Ok(Some(need)) => HttpResponse::Ok().json(json!({"data": {"need": need}})),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn r2(pool: web::Data<Pool>, body: web::Json<Value>) -> HttpResponse {
    let Some(community) = id_field(&body, "communityId") else {
        return HttpResponse::BadRequest().finish();
    };
    let answer = match pool.get_ref() {
        Pool::Sqlite(p) => match sqlx::query(r2_sql!("?")).bind(community).fetch_all(p).await {
            Ok(rows) => page_json(&rows),
            Err(e) => Err(e),
        },
        Pool::Postgres(p) => {
            match sqlx::query(r2_sql!("$1"))
                .bind(community)
                .fetch_all(p)
                .await
            {
                Ok(rows) => page_json(&rows),
                Err(e) => Err(e),
            }
        }
    };
    match answer {
        Ok(page) => HttpResponse::Ok().json(page),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

/// Serves until killed, on `port`, with as many connections as Linli's pool.
pub async fn serve(database_url: &str, port: u16, max_connections: u32) -> anyhow::Result<()> {
    let pool = if database_url.starts_with("sqlite:") {
        Pool::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(max_connections)
                .connect(database_url)
                .await?,
        )
    } else {
        Pool::Postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(max_connections)
                .connect(database_url)
                .await?,
        )
    };
    let data = web::Data::new(pool);
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/r1", web::post().to(r1))
            .route("/r2", web::post().to(r2))
            .route("/readyz", web::get().to(HttpResponse::Ok))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
