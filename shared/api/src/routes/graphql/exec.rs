//! One GraphQL document executed over JSON trees: pick the operation, bind its variables, and
//! project each root field's value through its selection set.
//!
//! Resolvers build plain JSON objects, each carrying its `__typename`; fields that take
//! arguments (`triggers(after, first, filters)`, `project(name)`, ...) are [`Computed`] on the
//! object that holds them. The projector follows the selection: aliases, named and inline
//! fragments (type conditions matched on `__typename`, through the few interfaces and unions
//! of W&B's schema), `@skip`/`@include`. A field an object does not have answers `null`; the
//! test suite validates every document the W&B SDK sends against the schema subset, so this
//! leniency never hides a mismatch from the tests.

use crate::error::ApiError;
use graphql_parser::query::{
    Definition, Directive, Document, FragmentDefinition, OperationDefinition, Selection, SelectionSet, TypeCondition,
    Value as GqlValue,
};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

type Set<'d> = SelectionSet<'d, &'d str>;

/// How deep fragments may spread into one another: the parser bounds the nesting of a document,
/// but a fragment that spreads itself (which GraphQL's validation forbids, and this projector
/// does not validate) would recurse without end.
const MAX_SPREAD: usize = 16;

/// Whether the operation reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Query,
    Mutation,
}

/// The operation of a request, ready to run.
pub struct Operation<'d> {
    pub kind: Kind,
    selection: &'d Set<'d>,
    fragments: HashMap<&'d str, &'d FragmentDefinition<'d, &'d str>>,
    variables: Map<String, Value>,
}

/// A root field to resolve: its name, the key it answers under, its arguments.
pub struct RootField<'o, 'd> {
    pub name: &'d str,
    pub key: &'d str,
    pub args: Map<String, Value>,
    selection: &'o Set<'d>,
}

/// Fields with arguments, computed on the object that holds them. `None`: not computed here,
/// read the object's own member.
pub trait Computed {
    fn field(
        &self,
        parent: &Map<String, Value>,
        name: &str,
        args: &Map<String, Value>,
    ) -> Option<Result<Value, ApiError>>;
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::field("query", message)
}

impl<'d> Operation<'d> {
    /// The operation named `name` (an empty name is no name: the W&B SDK sends `""`), or the
    /// document's only one.
    pub fn new(
        doc: &'d Document<'d, &'d str>,
        name: Option<&str>,
        given: &Map<String, Value>,
    ) -> Result<Self, ApiError> {
        let name = name.filter(|n| !n.is_empty());
        let mut fragments = HashMap::new();
        let mut operations = Vec::new();
        for def in &doc.definitions {
            match def {
                Definition::Fragment(f) => {
                    fragments.insert(f.name, f);
                }
                Definition::Operation(op) => operations.push(op),
            }
        }
        let op_name = |op: &OperationDefinition<'d, &'d str>| match op {
            OperationDefinition::Query(q) => q.name,
            OperationDefinition::Mutation(m) => m.name,
            OperationDefinition::Subscription(s) => s.name,
            OperationDefinition::SelectionSet(_) => None,
        };
        let op = match name {
            Some(n) => operations
                .iter()
                .find(|op| op_name(op) == Some(n))
                .ok_or_else(|| bad(format!("the document has no operation named {n:?}")))?,
            None if operations.len() == 1 => &operations[0],
            None => return Err(bad("the document has several operations: name one in operationName")),
        };
        let (kind, selection, definitions) = match op {
            OperationDefinition::Query(q) => (Kind::Query, &q.selection_set, &q.variable_definitions[..]),
            OperationDefinition::Mutation(m) => (Kind::Mutation, &m.selection_set, &m.variable_definitions[..]),
            OperationDefinition::SelectionSet(s) => (Kind::Query, s, &[][..]),
            OperationDefinition::Subscription(_) => return Err(bad("subscriptions are not served")),
        };
        let mut variables = Map::new();
        for d in definitions {
            let value = match given.get(d.name) {
                Some(v) => v.clone(),
                None => d.default_value.as_ref().map(|v| constant(v, &Map::new())).unwrap_or(Value::Null),
            };
            variables.insert(d.name.to_string(), value);
        }
        Ok(Operation { kind, selection, fragments, variables })
    }

    /// The root fields, in document order.
    pub fn root_fields(&self) -> Result<Vec<RootField<'_, 'd>>, ApiError> {
        let mut out = Vec::new();
        self.collect_root(self.selection, &mut out, 0)?;
        Ok(out)
    }

    fn collect_root<'o>(
        &'o self,
        set: &'o Set<'d>,
        out: &mut Vec<RootField<'o, 'd>>,
        spread: usize,
    ) -> Result<(), ApiError> {
        for sel in &set.items {
            match sel {
                Selection::Field(f) if self.included(&f.directives) => out.push(RootField {
                    name: f.name,
                    key: f.alias.unwrap_or(f.name),
                    args: self.arguments(&f.arguments),
                    selection: &f.selection_set,
                }),
                Selection::FragmentSpread(s) if self.included(&s.directives) => {
                    let f = self.fragment(s.fragment_name, spread)?;
                    self.collect_root(&f.selection_set, out, spread + 1)?;
                }
                Selection::InlineFragment(i) if self.included(&i.directives) => {
                    self.collect_root(&i.selection_set, out, spread)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Project a root field's value through its selection.
    pub fn project(
        &self,
        field: &RootField<'_, 'd>,
        value: &Value,
        computed: &dyn Computed,
    ) -> Result<Value, ApiError> {
        if field.selection.items.is_empty() {
            return Ok(value.clone());
        }
        self.value(value, field.selection, computed)
    }

    fn value(&self, v: &Value, set: &Set<'d>, computed: &dyn Computed) -> Result<Value, ApiError> {
        Ok(match v {
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.value(i, set, computed)).collect::<Result<_, _>>()?)
            }
            Value::Object(m) => {
                let ty = m.get("__typename").and_then(Value::as_str).unwrap_or_default();
                let mut out = Map::new();
                self.object(m, ty, set, computed, &mut out, 0)?;
                Value::Object(out)
            }
            // A scalar (or null) needs no selection; a selection on it selects nothing.
            other => other.clone(),
        })
    }

    fn object(
        &self,
        m: &Map<String, Value>,
        ty: &str,
        set: &Set<'d>,
        computed: &dyn Computed,
        out: &mut Map<String, Value>,
        spread: usize,
    ) -> Result<(), ApiError> {
        for sel in &set.items {
            match sel {
                Selection::Field(f) => {
                    if !self.included(&f.directives) {
                        continue;
                    }
                    let key = f.alias.unwrap_or(f.name);
                    let value = if f.name == "__typename" {
                        Value::from(ty)
                    } else {
                        let args = self.arguments(&f.arguments);
                        let raw = match computed.field(m, f.name, &args) {
                            Some(r) => r?,
                            None => m.get(f.name).cloned().unwrap_or(Value::Null),
                        };
                        if f.selection_set.items.is_empty() {
                            raw
                        } else {
                            self.value(&raw, &f.selection_set, computed)?
                        }
                    };
                    merge(out, key, value);
                }
                Selection::FragmentSpread(s) => {
                    if !self.included(&s.directives) {
                        continue;
                    }
                    let f = self.fragment(s.fragment_name, spread)?;
                    let TypeCondition::On(on) = f.type_condition;
                    if applies(on, ty) {
                        self.object(m, ty, &f.selection_set, computed, out, spread + 1)?;
                    }
                }
                Selection::InlineFragment(i) => {
                    let on = i.type_condition.as_ref().map(|TypeCondition::On(on)| *on);
                    if self.included(&i.directives) && on.is_none_or(|on| applies(on, ty)) {
                        self.object(m, ty, &i.selection_set, computed, out, spread)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn fragment(&self, name: &str, spread: usize) -> Result<&'d FragmentDefinition<'d, &'d str>, ApiError> {
        if spread >= MAX_SPREAD {
            return Err(bad(format!("fragments spread more than {MAX_SPREAD} deep (does {name:?} spread itself?)")));
        }
        self.fragments.get(name).copied().ok_or_else(|| bad(format!("the document has no fragment named {name:?}")))
    }

    fn arguments(&self, args: &[(&'d str, GqlValue<'d, &'d str>)]) -> Map<String, Value> {
        args.iter().map(|(k, v)| (k.to_string(), constant(v, &self.variables))).collect()
    }

    /// `@skip(if:)` and `@include(if:)`.
    fn included(&self, directives: &[Directive<'d, &'d str>]) -> bool {
        directives.iter().all(|d| {
            let cond = d.arguments.iter().find(|(k, _)| *k == "if").map(|(_, v)| constant(v, &self.variables));
            !matches!((d.name, cond), ("skip", Some(Value::Bool(true))) | ("include", Some(Value::Bool(false))))
        })
    }
}

/// Two selections of one key merge (`__typename` beside `... on X { __typename id }`).
fn merge(out: &mut Map<String, Value>, key: &str, value: Value) {
    match (out.get_mut(key), value) {
        (Some(Value::Object(have)), Value::Object(more)) => {
            for (k, v) in more {
                merge(have, &k, v);
            }
        }
        (_, value) => {
            out.insert(key.to_string(), value);
        }
    }
}

/// A type condition holds for an object of type `ty`: the same type, or an interface or union
/// of W&B's schema that has it.
fn applies(on: &str, ty: &str) -> bool {
    if on == ty {
        return true;
    }
    let members: &[&str] = match on {
        "Integration" => &["SlackIntegration", "GenericWebhookIntegration"],
        "ArtifactCollection" => &["ArtifactSequence", "ArtifactPortfolio"],
        "TriggerScope" => &["Project", "ArtifactSequence", "ArtifactPortfolio", "Entity"],
        "TriggeringCondition" => &["FilterEventTriggeringCondition"],
        "TriggeredAction" => &["NotificationTriggeredAction", "GenericWebhookTriggeredAction", "NoOpTriggeredAction"],
        _ => &[],
    };
    members.contains(&ty)
}

/// A literal or variable as JSON.
fn constant<'a>(v: &GqlValue<'a, &'a str>, vars: &Map<String, Value>) -> Value {
    match v {
        GqlValue::Variable(name) => vars.get(*name).cloned().unwrap_or(Value::Null),
        GqlValue::Int(n) => n.as_i64().map(Value::from).unwrap_or(Value::Null),
        GqlValue::Float(f) => Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        GqlValue::String(s) => Value::String(s.clone()),
        GqlValue::Boolean(b) => Value::Bool(*b),
        GqlValue::Null => Value::Null,
        GqlValue::Enum(e) => Value::String(e.to_string()),
        GqlValue::List(items) => Value::Array(items.iter().map(|i| constant(i, vars)).collect()),
        GqlValue::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.to_string(), constant(v, vars))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoComputed;
    impl Computed for NoComputed {
        fn field(&self, _: &Map<String, Value>, _: &str, _: &Map<String, Value>) -> Option<Result<Value, ApiError>> {
            None
        }
    }

    fn run(query: &str, name: Option<&str>, vars: Value, root: Value) -> Value {
        let doc = graphql_parser::parse_query::<&str>(query).unwrap();
        let op = Operation::new(&doc, name, vars.as_object().unwrap()).unwrap();
        let mut out = Map::new();
        for f in op.root_fields().unwrap() {
            out.insert(f.key.to_string(), op.project(&f, &root[f.name], &NoComputed).unwrap());
        }
        Value::Object(out)
    }

    #[test]
    fn aliases_fragments_and_type_conditions_shape_the_answer() {
        let root = json!({"entity": {"__typename": "Entity", "name": "acme", "secret": "x",
        "integrations": [
            {"__typename": "SlackIntegration", "id": "1", "channelName": "#a", "teamName": "t"},
            {"__typename": "GenericWebhookIntegration", "id": "2", "name": "h", "urlEndpoint": "u"}
        ]}});
        let q = "query Q($e: String) { scope: entity(name: $e) { __typename name missing
                    integrations { __typename ...on Integration { id } ... S
                                   ...on GenericWebhookIntegration { name } } } }
                 fragment S on SlackIntegration { __typename channelName }";
        let out = run(q, Some(""), json!({"e": "acme"}), root);
        assert_eq!(
            out,
            json!({"scope": {"__typename": "Entity", "name": "acme", "missing": null, "integrations": [
                {"__typename": "SlackIntegration", "id": "1", "channelName": "#a"},
                {"__typename": "GenericWebhookIntegration", "id": "2", "name": "h"}
            ]}})
        );
        assert!(out.to_string().find("secret").is_none(), "only what is selected is answered");
    }

    #[test]
    fn a_fragment_that_spreads_itself_is_refused_not_followed() {
        for q in [
            "query { viewer { ...A } } fragment A on User { id ...A }",
            "query { ...Q } fragment Q on Query { ...R } fragment R on Query { ...Q }",
        ] {
            let doc = graphql_parser::parse_query::<&str>(q).unwrap();
            let op = Operation::new(&doc, None, &Map::new()).unwrap();
            let root = json!({"__typename": "User", "id": "u"});
            let result = op.root_fields().and_then(|fields| {
                fields.iter().map(|f| op.project(f, &root, &NoComputed)).collect::<Result<Vec<_>, _>>()
            });
            let Err(ApiError::Invalid(e)) = result else { panic!("{q}: {result:?}") };
            assert!(e.to_string().contains("spread"), "{e}");
        }
        // Deep nesting is the parser's to refuse.
        let deep = format!("{}{}", "{ a ".repeat(10_000), "}".repeat(10_000));
        assert!(graphql_parser::parse_query::<&str>(&deep).is_err());
    }

    #[test]
    fn operations_are_picked_by_name_and_directives_apply() {
        let q =
            "query A { viewer { id @skip(if: true) name } } query B($x: Boolean) { viewer { id @include(if: $x) } }";
        let doc = graphql_parser::parse_query::<&str>(q).unwrap();
        assert!(Operation::new(&doc, None, &Map::new()).is_err(), "two operations need a name");
        assert!(Operation::new(&doc, Some("C"), &Map::new()).is_err());
        let root = json!({"viewer": {"__typename": "User", "id": "u", "name": "n"}});
        assert_eq!(run(q, Some("A"), json!({}), root.clone()), json!({"viewer": {"name": "n"}}));
        assert_eq!(run(q, Some("B"), json!({"x": false}), root), json!({"viewer": {}}));
    }
}
