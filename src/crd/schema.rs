//! Schema adjustments the derived schemas need to read as user documentation and to be accepted
//! by every API server we support.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Status is written by the operator alone: defaults there serve nobody, and the 1.20 API
/// server rejects a status schema whose string field defaults to `""`.
pub fn no_defaults(schema: &mut Schema) {
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for prop in props.values_mut() {
            if let Some(obj) = prop.as_object_mut() {
                obj.remove("default");
            }
        }
    }
}

/// A timestamp (`metav1.Time`) without the Go package's documentation of the type, which
/// `kubectl explain` would otherwise show instead of the field's own.
pub fn time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time"})
}

/// A list of timestamps, as [`time`].
pub fn times(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "array", "items": {"type": "string", "format": "date-time"}})
}
