//! The `api` binary's subcommands, run in-process on a temporary data folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::cli::{Cli, run};
use clap::Parser;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

#[tokio::test]
async fn migrate_create_admin_and_officer_on_a_fresh_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let data = data.to_str().unwrap();
    // A fresh folder: migrate creates it and the SQLite file.
    run(Cli::try_parse_from(["api", "--data-dir", data, "migrate"]).unwrap())
        .await
        .unwrap();
    assert!(dir.path().join("nested/data/linli.db").exists());

    run(Cli::try_parse_from([
        "api",
        "--data-dir",
        data,
        "create-admin",
        "--phone",
        "13900000001",
        "--password",
        "admin-password",
    ])
    .unwrap())
    .await
    .unwrap();
    let settings = api::config::Settings::for_data_dir(data);
    let db = api::db::connect(&settings).await.unwrap();
    // The key was generated into the data folder; the phone is found by its blind index.
    assert!(dir.path().join("nested/data/data_encryption_key").exists());
    let keys = settings.data_keys().unwrap();
    let admin = entity::org::user::Entity::find()
        .filter(entity::org::user::Column::LoginPhoneBlindIndex.eq(keys.phone_index("13900000001")))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(admin.is_platform_admin);
    assert!(admin.password_hash.unwrap().starts_with("$argon2id$"));

    // An officer of a region.
    let district = api::service::org::create_region(
        &db,
        &api::policy::Actor::User(admin.id),
        "新区",
        entity::org::region::RegionKind::District,
        None,
    )
    .await
    .map_err(|e| e.message())
    .unwrap();
    let region = district.id.to_string();
    run(Cli::try_parse_from([
        "api",
        "--data-dir",
        data,
        "create-admin",
        "--phone",
        "13900000002",
        "--password",
        "officer-password",
        "--region",
        &region,
        "--role",
        "district-admin",
    ])
    .unwrap())
    .await
    .unwrap();
    let officers = entity::org::region_officer::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(officers.len(), 1);
    assert_eq!(officers[0].region_id, district.id);
    // The same phone twice is refused.
    let again = run(Cli::try_parse_from([
        "api",
        "--data-dir",
        data,
        "create-admin",
        "--phone",
        "13900000001",
        "--password",
        "admin-password",
    ])
    .unwrap())
    .await;
    assert!(again.is_err());
    // Another key is refused at start, before anything is written.
    let other_key = "ab".repeat(32);
    let refused = run(Cli::try_parse_from([
        "api",
        "--data-dir",
        data,
        "--data-encryption-key",
        &other_key,
        "migrate",
    ])
    .unwrap())
    .await
    .unwrap_err();
    assert!(
        format!("{refused:#}").contains("DATA_ENCRYPTION_KEY is not the key"),
        "{refused:#}"
    );
    // A role without a region is a usage error.
    assert!(
        Cli::try_parse_from([
            "api",
            "create-admin",
            "--phone",
            "13900000003",
            "--password",
            "x-password",
            "--role",
            "observer"
        ])
        .is_err()
    );
}
