//! Size limits of a whole document, checked right after parsing: the
//! number of fields (aliases included) and of directives. The depth,
//! complexity and per-field directive limits of async-graphql do not count
//! `__typename` or repeated aliases of cheap fields; these do.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};
use std::sync::Arc;

/// The most fields one document may select (each alias counts; a fragment
/// counts once however often it is spread). GraphiQL's introspection query
/// selects about 60.
pub const MAX_FIELDS: usize = 500;
/// The most directives in one document.
pub const MAX_DOCUMENT_DIRECTIVES: usize = 100;
/// The longest document text, checked before parsing: parsing is the
/// costly part of a refused document (10,000 directives are 190 KB), and
/// real documents, long texts inlined included, stay far below it.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Refuses a document text too long to be worth parsing, or None.
pub fn check_length(query: &str) -> Option<ServerError> {
    (query.len() > MAX_DOCUMENT_BYTES).then(|| {
        ServerError::new(
            format!(
                "查询过大：查询文本最多{}KB，长文本请放在 variables 中",
                MAX_DOCUMENT_BYTES / 1024
            ),
            None,
        )
    })
}

pub struct DocumentLimits;

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension)
    }
}

struct DocumentLimitsExtension;

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

/// Refuses a document over the limits, or None.
pub fn check(document: &ExecutableDocument) -> Option<ServerError> {
    let counts = measure(document);
    if counts.fields > MAX_FIELDS {
        return Some(ServerError::new(
            format!("查询过大：最多选择{MAX_FIELDS}个字段（含别名）"),
            None,
        ));
    }
    if counts.directives > MAX_DOCUMENT_DIRECTIVES {
        return Some(ServerError::new(
            format!("查询过大：最多使用{MAX_DOCUMENT_DIRECTIVES}个指令"),
            None,
        ));
    }
    None
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        match check(&document) {
            Some(refused) => Err(refused),
            None => Ok(document),
        }
    }
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
        assert!(check_length(&"x".repeat(MAX_DOCUMENT_BYTES + 1)).is_some());
        assert!(check_length("{ __typename }").is_none());
    }
}
