//! Identifiers as types of their own.
//!
//! The engine's security rests on entity isolation: every read and write names an entity, and
//! an adapter never returns another entity's objects. With every id a `&str`, an automation id
//! passed where the entity is expected (or the other way round) compiles and queries the wrong
//! partition; with these types it does not. Each wraps the plain string and is
//! `#[serde(transparent)]`, so JSON documents, SQL columns and DynamoDB attributes hold exactly
//! the text they held before. They do not validate: ids are checked where they enter (the API's
//! reader, the event parser), and these types only say which kind of id a string is.

use std::borrow::Borrow;
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wrap `id` (no validation: see the module's documentation).
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, unwrapped.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// The plain string, quoted, as a `String`'s `Debug` prints it.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// So that a map keyed by this id can be looked up by `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        /// Any text is an id (see the module's documentation); for command-line parsers.
        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name(s.to_string()))
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(s.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl From<&$name> for serde_json::Value {
            fn from(id: &$name) -> serde_json::Value {
                serde_json::Value::String(id.0.clone())
            }
        }

        impl From<$name> for serde_json::Value {
            fn from(id: $name) -> serde_json::Value {
                serde_json::Value::String(id.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self.0 == other.0
            }
        }

        impl PartialEq<$name> for &$name {
            fn eq(&self, other: &$name) -> bool {
                self.0 == other.0
            }
        }

        impl PartialEq<&$name> for String {
            fn eq(&self, other: &&$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id! {
    /// The W&B entity (team or user) that owns runs, automations and integrations: the unit of
    /// isolation. An API key grants one.
    EntityId
}

string_id! {
    /// An automation's id (`GET /v1/automations/{id}`).
    AutomationId
}

string_id! {
    /// A fire's id: derived from the automation and the event, so a redelivered event makes the
    /// same one. Also the execution's key and the webhook's `webhook-id`.
    FireId
}

string_id! {
    /// An integration's name, unique within its entity (`GET /v1/integrations/{name}`); what an
    /// automation's action names.
    IntegrationName
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn transparent_on_the_wire() {
        let e = EntityId::new("acme");
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"acme\"");
        assert_eq!(serde_json::from_str::<EntityId>("\"acme\"").unwrap(), e);
        assert_eq!(e.to_string(), "acme");
        assert_eq!(format!("{e:?}"), "\"acme\"");
    }

    #[test]
    fn maps_look_up_by_str() {
        let mut m = HashMap::new();
        m.insert(AutomationId::new("a1"), 1);
        assert_eq!(m.get("a1"), Some(&1));
        assert_eq!(AutomationId::from("a1"), "a1");
    }
}
