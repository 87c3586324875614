//! The `api` binary's subcommands.

use clap::{Parser, Subcommand};
use entity::org::region_officer::OfficerRole;
use uuid::Uuid;

use crate::config::Settings;
use crate::http::Application;
use crate::service::auth::create_password_user;
use crate::service::privacy;
use crate::state::AppState;
use crate::{db, graphql, seed, telemetry};

#[derive(Debug, Parser)]
#[command(name = "api", about = "Linli (邻里) GraphQL server", version)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve GraphQL (the default).
    Serve,
    /// Migrate the database and exit.
    Migrate,
    /// Print the GraphQL schema (SDL); `schema.graphql` is its output.
    ExportSchema,
    /// Print the table of error reasons (`extensions.reason`), or with
    /// `--write README.md` replace the README's table with it.
    ExportErrorReasons {
        #[arg(long)]
        write: Option<std::path::PathBuf>,
    },
    /// Create the platform administrator, or (with --region and --role) an officer of a region.
    CreateAdmin {
        #[arg(long)]
        phone: String,
        #[arg(long, env = "LINLI_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "管理员")]
        name: String,
        #[arg(long, requires = "role")]
        region: Option<Uuid>,
        #[arg(long, value_enum, requires = "region")]
        role: Option<CliOfficerRole>,
    },
    /// Create a demo district, street and community with people to log in as.
    SeedDemo,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CliOfficerRole {
    DistrictAdmin,
    StreetAdmin,
    Observer,
}

impl From<CliOfficerRole> for OfficerRole {
    fn from(role: CliOfficerRole) -> Self {
        match role {
            CliOfficerRole::DistrictAdmin => OfficerRole::DistrictAdmin,
            CliOfficerRole::StreetAdmin => OfficerRole::StreetAdmin,
            CliOfficerRole::Observer => OfficerRole::Observer,
        }
    }
}

/// The whole `api` binary: reads `.env`, parses the command line, runs the
/// command on a multi-threaded Tokio runtime. Also the entry of the root
/// package's `linli-api` binary, which the process-level tests spawn.
pub fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:?}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn export_error_reasons(readme: Option<&std::path::Path>) -> anyhow::Result<()> {
    let Some(path) = readme else {
        print!("{}", crate::error::reasons_table());
        return Ok(());
    };
    let text = std::fs::read_to_string(path)?;
    let updated = crate::error::with_reasons_table(&text).ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no {} … {} markers",
            path.display(),
            crate::error::README_REASONS_START,
            crate::error::README_REASONS_END
        )
    })?;
    std::fs::write(path, updated)?;
    Ok(())
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    if let Some(Command::ExportSchema) = cli.command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    if let Some(Command::ExportErrorReasons { write }) = &cli.command {
        return export_error_reasons(write.as_deref());
    }
    telemetry::init(settings.log_format);
    let conn = db::connect(&settings).await?;
    db::migrate(&conn).await?;
    // Before anything reads or writes a phone: refuse another key, and seal
    // the rows that still hold plaintext.
    let keys = settings.data_keys()?;
    privacy::prepare(&conn, &keys).await?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let graphiql = settings.graphiql_enabled();
            let state = AppState::with_keys(settings, conn, keys)?;
            let app = Application::build(state.clone())?;
            let addr = state.settings.bind_addr;
            tracing::info!(
                url = %format!("http://{}:{}/graphql", addr.ip(), app.port()),
                graphiql,
                backend = ?state.db.get_database_backend(),
                "Linli is serving"
            );
            app.run_until_stopped().await?;
        }
        Command::Migrate => tracing::info!("migrations applied"),
        Command::ExportSchema | Command::ExportErrorReasons { .. } => {}
        Command::CreateAdmin {
            phone,
            password,
            name,
            region,
            role,
        } => {
            let is_admin = region.is_none();
            let user = create_password_user(&conn, &keys, &phone, &name, &password, is_admin)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            if let (Some(region), Some(role)) = (region, role) {
                seed::appoint_as_system(&conn, region, user.id, role.into()).await?;
                println!("created officer {} ({phone}) of region {region}", user.id);
            } else {
                println!("created platform administrator {} ({phone})", user.id);
            }
        }
        Command::SeedDemo => {
            let summary = seed::seed_demo(&conn, &keys).await?;
            println!("{summary}");
        }
    }
    Ok(())
}
