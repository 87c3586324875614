//! Property tests of the input parsers: cursors, ids, phone numbers and
//! texts, the GraphQL POST body, and the lexical pass that measures a
//! document before parsing. None may panic on any input, and garbage is
//! rejected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::graphql::ids::parse_id;
use api::graphql::limits::{parsed_counts, precheck, scan};
use api::graphql::page::{decode_cursor, encode_cursor, page_request};
use api::http::graphql_request_from_json;
use api::service::validate;
use async_graphql::ID;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("query".to_string()),
                    Just("variables".to_string()),
                    Just("operationName".to_string()),
                    Just("extensions".to_string()),
                    ".{0,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A GraphQL value, as arguments and default values hold them (defaults
/// are constants: no variables): braces, colons, `@`, `#` and `...`
/// inside strings must not count.
fn value(constant: bool) -> impl Strategy<Value = String> {
    let variable = if constant { "0" } else { "$v" };
    let leaf = prop_oneof![
        (-1000i64..1000).prop_map(|n| n.to_string()),
        Just("-1.5e3".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("OPEN".to_string()),
        Just(variable.to_string()),
        "[a-z{}:@#. ]{0,12}".prop_map(|text| format!("{text:?}")),
        "[a-z{}:@#. ]{0,12}".prop_map(|text| format!("\"\"\"{text} \\\"\"\" {text}\"\"\"")),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..3).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    })
}

fn arguments() -> impl Strategy<Value = String> {
    prop::collection::vec(("[a-z]{1,5}", value(false)), 0..3).prop_map(|args| {
        if args.is_empty() {
            String::new()
        } else {
            let args: Vec<String> = args.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("({})", args.join(", "))
        }
    })
}

fn directives() -> impl Strategy<Value = String> {
    prop::collection::vec(("[a-z]{1,6}", arguments()), 0..3).prop_map(|directives| {
        directives
            .into_iter()
            .map(|(name, args)| format!(" @{name}{args}"))
            .collect()
    })
}

/// Whitespace, commas and comments (holding what would count outside one).
fn gap() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" ".to_string()),
        Just(",\n".to_string()),
        Just("\t".to_string()),
        "[a-z{}:@. ]{0,10}".prop_map(|text| format!(" # {text}\n")),
    ]
}

/// A selection set of fields (aliased or not, with arguments and
/// directives), fragment spreads and inline fragments.
fn selection_set() -> impl Strategy<Value = String> {
    let field = (
        "[a-z_][a-z0-9_]{0,5}",
        prop::option::of("[a-z][a-z0-9]{0,4}"),
        arguments(),
        directives(),
        gap(),
    )
        .prop_map(|(name, alias, args, directives, gap)| match alias {
            Some(alias) => format!("{alias}{gap}:{gap}{name}{args}{directives}"),
            None => format!("{name}{args}{directives}"),
        })
        .boxed();
    let leaf_set = prop::collection::vec((field.clone(), gap()), 1..4).prop_map(|items| {
        format!(
            "{{ {} }}",
            items.into_iter().map(|(f, g)| f + &g).collect::<String>()
        )
    });
    leaf_set.prop_recursive(4, 32, 4, move |inner| {
        let selection = prop_oneof![
            field.clone(),
            (field.clone(), inner.clone()).prop_map(|(field, set)| format!("{field} {set}")),
            ("[A-Z][a-z]{0,4}", directives())
                .prop_map(|(name, directives)| format!("...{name}{directives}")),
            (
                prop::option::of("[A-Z][a-z]{0,4}"),
                directives(),
                inner.clone()
            )
                .prop_map(|(on, directives, set)| match on {
                    Some(on) => format!("... on {on}{directives} {set}"),
                    None => format!("...{directives} {set}"),
                }),
        ];
        prop::collection::vec((selection, gap()), 1..4).prop_map(|items| {
            format!(
                "{{ {} }}",
                items.into_iter().map(|(s, g)| s + &g).collect::<String>()
            )
        })
    })
}

/// A whole document: an operation (with variables, defaults and
/// directives) and maybe a fragment definition.
fn document() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("query"), Just("mutation"), Just("subscription")],
        value(true),
        directives(),
        selection_set(),
        prop::option::of((directives(), selection_set())),
    )
        .prop_map(|(kind, default, directives, set, fragment)| {
            let mut document =
                format!("{kind} Q($v: Int = {default}, $w: [ID!]){directives} {set}");
            if let Some((fragment_directives, fragment_set)) = fragment {
                document.push_str(&format!(
                    "\nfragment F on T{fragment_directives} {fragment_set}"
                ));
            }
            document
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_lexical_pass_counts_as_the_parser_does(document in document()) {
        let parsed = async_graphql::parser::parse_query(&document);
        prop_assert!(parsed.is_ok(), "the generator made an invalid document: {document}");
        if let Ok(parsed) = parsed {
            let counts = scan(&document);
            prop_assert_eq!((counts.fields, counts.directives), parsed_counts(&parsed), "{}", document);
        }
    }

    #[test]
    fn the_lexical_pass_never_panics(text in ".{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = scan(&text);
        let _ = precheck(&text);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = scan(&lossy);
    }

    #[test]
    fn cursors_never_panic_and_only_round_trips_decode(text in ".*") {
        // Random text is (almost) never a cursor; when it decodes, it is
        // exactly the encoding of the id it decodes to.
        if let Some(id) = decode_cursor(&text) {
            prop_assert_eq!(encode_cursor(id), text.clone());
        }
        // Neither does page_request panic on it.
        let _ = page_request(Some(10), Some(text));
    }

    #[test]
    fn base64_of_junk_is_not_a_cursor(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        if let Some(id) = decode_cursor(&text) {
            prop_assert_eq!(bytes, format!("c1:{id}").into_bytes());
        }
    }

    #[test]
    fn every_id_round_trips_through_a_cursor(n in any::<u128>()) {
        let id = Uuid::from_u128(n);
        prop_assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        prop_assert_eq!(parse_id(&ID(id.to_string()), "id").ok(), Some(id));
    }

    #[test]
    fn page_sizes_outside_bounds_are_refused(first in any::<i32>()) {
        let result = page_request(Some(first), None);
        prop_assert_eq!(result.is_ok(), (0..=100).contains(&first));
    }

    #[test]
    fn ids_are_uuids_or_refused(text in ".*") {
        match parse_id(&ID(text.clone()), "id") {
            Ok(id) => prop_assert_eq!(Uuid::parse_str(&text).ok(), Some(id)),
            Err(e) => prop_assert_eq!(
                e.extensions.as_ref().and_then(|x| x.get("code")).cloned(),
                Some(async_graphql::Value::from("BAD_USER_INPUT"))
            ),
        }
    }

    #[test]
    fn phones_are_eleven_digits_or_refused(text in ".{0,20}") {
        match validate::phone("phone", &text) {
            Ok(phone) => {
                prop_assert_eq!(phone.len(), 11);
                prop_assert!(phone.starts_with('1'));
                prop_assert!(phone.chars().all(|c| c.is_ascii_digit()));
            }
            Err(e) => prop_assert_eq!(e.code().as_str(), "BAD_USER_INPUT"),
        }
    }

    #[test]
    fn valid_phones_pass(second in 3u8..=9, rest in "[0-9]{9}") {
        let phone = format!("1{second}{rest}");
        prop_assert_eq!(validate::phone("phone", &format!(" {phone} ")).ok(), Some(phone));
    }

    #[test]
    fn texts_are_trimmed_bounded_and_never_empty(text in ".{0,60}", max in 1usize..40) {
        match validate::text("title", &text, max) {
            Ok(kept) => {
                prop_assert!(!kept.is_empty());
                prop_assert!(kept.chars().count() <= max);
                prop_assert_eq!(kept.as_str(), text.trim());
            }
            Err(e) => {
                prop_assert_eq!(e.code().as_str(), "BAD_USER_INPUT");
                let trimmed = text.trim();
                prop_assert!(trimmed.is_empty() || trimmed.chars().count() > max);
            }
        }
    }

    #[test]
    fn graphql_bodies_never_panic(value in any_json()) {
        let is_request = matches!(&value, Value::Object(o)
            if matches!(o.get("query"), Some(Value::String(_)))
            && matches!(o.get("operationName"), None | Some(Value::Null) | Some(Value::String(_)))
            && matches!(o.get("variables"), None | Some(Value::Null) | Some(Value::Object(_)))
            && matches!(o.get("extensions"), None | Some(Value::Null) | Some(Value::Object(_))));
        let result = graphql_request_from_json(value);
        prop_assert_eq!(result.is_ok(), is_request);
        if let Err(message) = result {
            let chinese = message.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            prop_assert!(chinese, "messages are Chinese: {}", message);
        }
    }

    #[test]
    fn batches_are_always_refused(items in prop::collection::vec(any_json(), 0..100)) {
        prop_assert!(graphql_request_from_json(Value::Array(items)).is_err());
    }

    #[test]
    fn any_query_text_parses_or_is_refused_without_panicking(query in ".{0,200}") {
        let _ = async_graphql::parser::parse_query(&query);
        let body = json!({"query": query});
        let accepted = graphql_request_from_json(body).is_ok();
        prop_assert!(accepted);
    }
}
