//! `schema.graphql` is exactly what `api export-schema` prints.

#[test]
fn schema_file_matches_the_server() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    let exported = api::graphql::sdl();
    assert!(
        on_disk == exported,
        "schema.graphql is out of date: run `cargo run -p api -- export-schema > schema.graphql`"
    );
}
