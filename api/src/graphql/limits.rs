//! Size limits of a whole document: the number of fields (aliases
//! included) and of directives, and its nesting. The depth, complexity and
//! per-field directive limits of async-graphql do not count `__typename` or
//! repeated aliases of cheap fields; these do.
//!
//! They are checked twice. Before parsing, `precheck` measures the text in
//! one lexical pass, because parsing is the costly part of refusing a
//! document (a request of 1,000 aliases cost the server 2.7 ms to refuse
//! after parsing, 58 µs before: README, Benchmarks, “Attack”). After
//! parsing, `check` measures the syntax tree, which is the authority; on a
//! document that parses both count alike (a debug assertion in [`admit`]
//! holds every document of the test suite to that).
//!
//! [`admit`] runs both on every operation, whichever way it came (HTTP
//! POST, GET, or a WebSocket `subscribe`): `crate::http::gate`.

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use super::MAX_DEPTH;
use crate::error::Reason;

/// The most fields one document may select (each alias counts; a fragment
/// counts once however often it is spread). GraphiQL's introspection query
/// selects about 60.
pub const MAX_FIELDS: usize = 500;
/// The most directives in one document.
pub const MAX_DOCUMENT_DIRECTIVES: usize = 100;
/// The longest document text, checked before anything else: real
/// documents, long texts inlined included, stay far below it.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// The deepest nesting of selection sets in the text. Fragments make the
/// nesting of the text and the depth of the query differ, so this is a
/// coarse bound, twice the query depth limit (`MAX_DEPTH`) that the schema
/// enforces after parsing.
pub const MAX_TEXT_NESTING: usize = 2 * MAX_DEPTH;

/// A refused document: `GRAPHQL_VALIDATION_FAILED`, as the HTTP layer
/// codes every document that is not executed, with its reason.
fn refused(reason: Reason, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", reason.code().as_str());
    extensions.set("reason", reason.as_str());
    error
}

fn too_many_fields() -> ServerError {
    refused(
        Reason::TooManyFields,
        format!("查询过大：最多选择{MAX_FIELDS}个字段（含别名）"),
    )
}

fn too_many_directives() -> ServerError {
    refused(
        Reason::TooManyDirectives,
        format!("查询过大：最多使用{MAX_DOCUMENT_DIRECTIVES}个指令"),
    )
}

/// Refuses, before parsing, a document text too long, too large or nested
/// too deep to be worth parsing; otherwise what the lexical pass counted.
pub fn precheck(query: &str) -> Result<TextCounts, ServerError> {
    if query.len() > MAX_DOCUMENT_BYTES {
        return Err(refused(
            Reason::DocumentTooLarge,
            format!(
                "查询过大：查询文本最多{}KB，长文本请放在 variables 中",
                MAX_DOCUMENT_BYTES / 1024
            ),
        ));
    }
    let counts = scan(query);
    if counts.nesting > MAX_TEXT_NESTING {
        return Err(refused(
            Reason::DocumentTooDeep,
            format!("查询嵌套过深：最多{MAX_DEPTH}层"),
        ));
    }
    if counts.fields > MAX_FIELDS {
        return Err(too_many_fields());
    }
    if counts.directives > MAX_DOCUMENT_DIRECTIVES {
        return Err(too_many_directives());
    }
    Ok(counts)
}

/// What one lexical pass over a document's text counts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TextCounts {
    /// Fields selected, aliases included (as `check` counts them).
    pub fields: usize,
    /// Directives outside variable definitions (as `check` counts them).
    pub directives: usize,
    /// The deepest nesting of braces outside arguments.
    pub nesting: usize,
}

/// The token before the current one, as far as telling fields apart needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Previous {
    /// `@`: the next name is a directive's.
    At,
    /// `...`: the next name is a fragment's, or `on`.
    Spread,
    /// `... on`: the next name is a type condition.
    On,
    /// A name counted as a field: a `:` after it makes it an alias.
    Field,
    Other,
}

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

fn is_name_continue(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Counts fields, directives and nesting in one pass over the text, with
/// the lexical rules of GraphQL (strings, block strings and comments are
/// skipped). Outside parentheses, in a selection set, a name is a field
/// unless it names a directive, a fragment or a type condition; a name
/// followed by `:` there is an alias, counted by the field it names.
/// Never panics, on any text.
pub fn scan(query: &str) -> TextCounts {
    let bytes = query.as_bytes();
    let mut counts = TextCounts::default();
    let mut parentheses = 0usize;
    let mut braces = 0usize;
    let mut previous = Previous::Other;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                previous = Previous::Other;
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\n' | b'\r' => break,
                        _ => i += 1,
                    }
                }
                previous = Previous::Other;
                continue;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                previous = Previous::Spread;
                continue;
            }
            b'(' => parentheses += 1,
            b')' => parentheses = parentheses.saturating_sub(1),
            b'{' if parentheses == 0 => {
                braces += 1;
                counts.nesting = counts.nesting.max(braces);
            }
            b'}' if parentheses == 0 => braces = braces.saturating_sub(1),
            b'@' if parentheses == 0 => {
                counts.directives += 1;
                i += 1;
                previous = Previous::At;
                continue;
            }
            b':' if previous == Previous::Field => {
                // The name before was an alias; the field's name follows.
                counts.fields -= 1;
            }
            byte if is_name_start(byte) => {
                let start = i;
                while i < bytes.len() && is_name_continue(bytes[i]) {
                    i += 1;
                }
                let in_selection = parentheses == 0 && braces > 0;
                previous = match previous {
                    _ if !in_selection => Previous::Other,
                    Previous::At | Previous::On => Previous::Other,
                    Previous::Spread if &bytes[start..i] == b"on" => Previous::On,
                    Previous::Spread => Previous::Other,
                    Previous::Field | Previous::Other => {
                        counts.fields += 1;
                        Previous::Field
                    }
                };
                continue;
            }
            byte if byte.is_ascii_digit() || byte == b'-' => {
                // A number, with its fraction and exponent: no name in it.
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
                previous = Previous::Other;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        i += 1;
        previous = Previous::Other;
    }
    counts
}

#[derive(Default)]
struct Counts {
    fields: usize,
    directives: usize,
}

fn count(set: &SelectionSet, counts: &mut Counts) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                counts.fields += 1;
                counts.directives += field.node.directives.len();
                count(&field.node.selection_set.node, counts);
            }
            Selection::FragmentSpread(spread) => {
                counts.directives += spread.node.directives.len();
            }
            Selection::InlineFragment(fragment) => {
                counts.directives += fragment.node.directives.len();
                count(&fragment.node.selection_set.node, counts);
            }
        }
    }
}

/// Counts fields and directives over every operation and fragment.
fn measure(document: &ExecutableDocument) -> Counts {
    let mut counts = Counts::default();
    for (_, operation) in document.operations.iter() {
        counts.directives += operation.node.directives.len();
        count(&operation.node.selection_set.node, &mut counts);
    }
    for fragment in document.fragments.values() {
        counts.directives += fragment.node.directives.len();
        count(&fragment.node.selection_set.node, &mut counts);
    }
    counts
}

/// Refuses a parsed document over the limits, or None.
pub fn check(document: &ExecutableDocument) -> Option<ServerError> {
    let counts = measure(document);
    if counts.fields > MAX_FIELDS {
        return Some(too_many_fields());
    }
    if counts.directives > MAX_DOCUMENT_DIRECTIVES {
        return Some(too_many_directives());
    }
    None
}

/// Refuses `request`'s document if it is over the limits: from its text
/// before parsing (the costly part), then from the parsed document, which
/// `request` keeps so that the schema does not parse it again. A document
/// that does not parse is left to the schema, which says why.
pub fn admit(request: &mut async_graphql::Request) -> Result<(), ServerError> {
    let counts = precheck(&request.query)?;
    let Ok(document) = request.parsed_query() else {
        return Ok(());
    };
    // Every document of the test suite holds the lexical pass to the
    // parser's count.
    debug_assert_eq!(
        (counts.fields, counts.directives),
        parsed_counts(document),
        "the lexical pass and the parsed document count alike: {}",
        request.query
    );
    match check(document) {
        Some(refused) => Err(refused),
        None => Ok(()),
    }
}

/// Fields and directives of a parsed document, as `check` counts them.
pub fn parsed_counts(document: &ExecutableDocument) -> (usize, usize) {
    let counts = measure(document);
    (counts.fields, counts.directives)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn many_aliases_and_directives_are_refused() {
        let aliases: String = (0..=MAX_FIELDS)
            .map(|i| format!("a{i}: __typename "))
            .collect();
        assert!(check(&parse(&format!("{{ {aliases} }}"))).is_some());
        let directives = " @include(if: true)".repeat(MAX_DOCUMENT_DIRECTIVES + 1);
        assert!(check(&parse(&format!("{{ __typename{directives} }}"))).is_some());
        assert!(check(&parse("{ a: __typename b: __typename @skip(if: false) }")).is_none());
    }

    #[test]
    fn overlong_documents_are_refused_before_parsing() {
        assert!(precheck(&"x".repeat(MAX_DOCUMENT_BYTES + 1)).is_err());
        assert!(precheck("{ __typename }").is_ok());
    }

    /// Documents that use every kind of token where it could be mistaken
    /// for a field: aliases, arguments with objects and lists, variables
    /// with defaults and directives, fragments, inline fragments with and
    /// without type conditions, strings, block strings and comments holding
    /// braces, colons and `@`.
    const DOCUMENTS: &[&str] = &[
        "{ __typename }",
        "query { a: regions { id name } b: regions { id } }",
        r#"query Q($c: ID! = "x", $d: Int @deprecated, $f: Filter = {a: {b: [1, 2]}, s: "{ x: y }"}) @live {
            community(id: $c) { id name @include(if: true) ...F ... on Community { id } ... @skip(if: false) { name } }
            # a comment { with: braces } @and ... on X { y }
            other: needs(filter: {status: OPEN, text: """ block { a: b } \""" still @in "string" """}, first: -1.5e3) {
                edges { node { id, title } }
            }
        }
        fragment F on Community @dir(a: "}") { id members(first: 2) { totalCount } }
        fragment G on Region { children { on: id } }"#,
        "mutation M { castVote(input: {ballotId: \"b\", choice: YES}) { id } }",
        "subscription { ballotTally(ballotId: \"x\") { yes no } }",
        "{\ta:__typename,b :__typename\r\nc\n:\n__typename}",
    ];

    #[test]
    fn the_lexical_pass_counts_as_the_parsed_document_does() {
        for document in DOCUMENTS {
            let parsed = parse(document);
            let counts = scan(document);
            assert_eq!(
                (counts.fields, counts.directives),
                parsed_counts(&parsed),
                "{document}"
            );
        }
        let aliases: String = (0..1000)
            .map(|i| format!("a{i}: regions {{ id name }} "))
            .collect();
        let aliases = format!("{{ {aliases} }}");
        assert_eq!(
            (scan(&aliases).fields, scan(&aliases).directives),
            parsed_counts(&parse(&aliases))
        );
        assert_eq!(scan("{ a { b { c } } }").nesting, 3);
        assert_eq!(scan("{ a(x: {y: {z: 1}}) }").nesting, 1);
    }

    #[test]
    fn too_large_documents_are_refused_before_parsing() {
        let aliases: String = (0..=MAX_FIELDS)
            .map(|i| format!("a{i}: __typename "))
            .collect();
        let refused = precheck(&format!("{{ {aliases} }}"))
            .err()
            .map(|e| e.message);
        assert!(refused.is_some_and(|m| m.contains("字段")));
        let directives = " @include(if: true)".repeat(MAX_DOCUMENT_DIRECTIVES + 1);
        let refused = precheck(&format!("{{ __typename{directives} }}"))
            .err()
            .map(|e| e.message);
        assert!(refused.is_some_and(|m| m.contains("指令")));
        let deep = format!(
            "{}id{}",
            "{ a ".repeat(MAX_TEXT_NESTING + 1),
            "}".repeat(MAX_TEXT_NESTING + 1)
        );
        let refused = precheck(&deep).err().map(|e| e.message);
        assert!(refused.is_some_and(|m| m.contains("嵌套")));
        let at_the_limit = format!(
            "{}id{}",
            "{ a ".repeat(MAX_TEXT_NESTING),
            "}".repeat(MAX_TEXT_NESTING)
        );
        assert!(precheck(&at_the_limit).is_ok());
        // Braces, names and `@` inside strings and comments do not count.
        let quoted = format!(
            "{{ a(s: \"{}\") # {}\n }}",
            "{ x @y ".repeat(1_000),
            "{ x @y ".repeat(1_000)
        );
        assert!(precheck(&quoted).is_ok());
    }
}
