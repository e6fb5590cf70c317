//! What a payload asks for besides its prompt and output limit — a system prompt, a temperature, an attached
//! image — written into each API's own shape. One function per shape, applied to the payload `create_payload`
//! built, so each API's base shape stays in its module.

use serde_json::{json, Map, Value};

use crate::ProtocolError;

/// An image attached to the prompt, as base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    pub base64: String,
}

impl Image {
    /// Bedrock Converse's image `format` (`png`, `jpeg`, `gif`, `webp`).
    fn format(&self) -> &str {
        self.media_type.strip_prefix("image/").unwrap_or("png")
    }

    fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.media_type, self.base64)
    }
}

/// Extras for a payload; each is left out when `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PayloadOptions {
    pub system: Option<String>,
    pub temperature: Option<f64>,
    pub image: Option<Image>,
}

impl PayloadOptions {
    pub fn is_empty(&self) -> bool {
        *self == PayloadOptions::default()
    }
}

/// Which shape a payload has, for [`apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// OpenAI Chat Completions (and OpenAI-compatible containers).
    Chat,
    /// The OpenAI Responses API.
    Responses,
    /// Anthropic Messages (also Claude bodies on Bedrock InvokeModel).
    Anthropic,
    /// Bedrock Converse (also Nova bodies on InvokeModel).
    Converse,
}

/// Writes `options` into `payload` of `shape` (a single-user-message payload from `create_payload`).
pub fn apply(payload: &mut Value, shape: Shape, options: &PayloadOptions) -> Result<(), ProtocolError> {
    let obj = payload
        .as_object_mut()
        .ok_or_else(|| ProtocolError::Malformed("the payload must be a JSON object".into()))?;
    match shape {
        Shape::Chat => chat(obj, options),
        Shape::Responses => responses(obj, options),
        Shape::Anthropic => anthropic(obj, options),
        Shape::Converse => converse(obj, options),
    }
    Ok(())
}

/// The text of the (single) user message, as `create_payload` wrote it.
fn user_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// One earlier exchange of a conversation: what the user said and the model's real answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub user: String,
    pub assistant: String,
}

/// Writes the earlier `history` of a conversation into `payload` of `shape` (a payload holding this turn's user
/// message), before that message, in the API's own message shape: the request then carries the whole conversation.
pub fn with_history(payload: &mut Value, shape: Shape, history: &[Exchange]) -> Result<(), ProtocolError> {
    let obj = payload
        .as_object_mut()
        .ok_or_else(|| ProtocolError::Malformed("the payload must be a JSON object".into()))?;
    let message = |role: &str, text: &str| match shape {
        Shape::Converse => json!({"role": role, "content": [{"text": text}]}),
        Shape::Chat | Shape::Responses | Shape::Anthropic => json!({"role": role, "content": text}),
    };
    let earlier = history
        .iter()
        .flat_map(|e| [message("user", &e.user), message("assistant", &e.assistant)]);
    let key = match shape {
        Shape::Responses => "input",
        Shape::Chat | Shape::Anthropic | Shape::Converse => "messages",
    };
    let messages = match obj.get_mut(key) {
        // The Responses API's single-string input is one user message.
        Some(Value::String(text)) if shape == Shape::Responses => {
            let text = std::mem::take(text);
            obj.insert(key.into(), json!([{"role": "user", "content": text}]));
            obj.get_mut(key).and_then(Value::as_array_mut)
        }
        Some(Value::Array(messages)) => Some(messages),
        _ => None,
    }
    .ok_or_else(|| {
        ProtocolError::Malformed(format!(
            "the payload has no {key} list to add the conversation to"
        ))
    })?;
    let at = messages.len().saturating_sub(1);
    messages.splice(at..at, earlier);
    Ok(())
}

/// The text of the last user message of `payload` of `shape`: this turn's prompt, as the conversation keeps it.
pub fn last_user_text(payload: &Value, shape: Shape) -> Option<String> {
    let key = match shape {
        Shape::Responses => "input",
        Shape::Chat | Shape::Anthropic | Shape::Converse => "messages",
    };
    match &payload[key] {
        Value::String(text) => Some(text.clone()),
        Value::Array(messages) => messages.last().map(user_text),
        _ => None,
    }
}

fn last_user(obj: &mut Map<String, Value>) -> Option<&mut Value> {
    obj.get_mut("messages")?.as_array_mut()?.last_mut()
}

fn chat(obj: &mut Map<String, Value>, o: &PayloadOptions) {
    if let (Some(image), Some(user)) = (&o.image, last_user(obj)) {
        let text = user_text(user);
        user["content"] = json!([
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": image.data_url()}},
        ]);
    }
    if let Some(system) = &o.system {
        if let Some(Value::Array(messages)) = obj.get_mut("messages") {
            messages.insert(0, json!({"role": "system", "content": system}));
        }
    }
    if let Some(t) = o.temperature {
        obj.insert("temperature".into(), t.into());
    }
}

fn responses(obj: &mut Map<String, Value>, o: &PayloadOptions) {
    if let Some(image) = &o.image {
        let text = obj
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        obj.insert(
            "input".into(),
            json!([{"role": "user", "content": [
                {"type": "input_text", "text": text},
                {"type": "input_image", "image_url": image.data_url()},
            ]}]),
        );
    }
    if let Some(system) = &o.system {
        obj.insert("instructions".into(), system.clone().into());
    }
    if let Some(t) = o.temperature {
        obj.insert("temperature".into(), t.into());
    }
}

fn anthropic(obj: &mut Map<String, Value>, o: &PayloadOptions) {
    if let (Some(image), Some(user)) = (&o.image, last_user(obj)) {
        let text = user_text(user);
        user["content"] = json!([
            {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.base64}},
            {"type": "text", "text": text},
        ]);
    }
    if let Some(system) = &o.system {
        obj.insert("system".into(), system.clone().into());
    }
    if let Some(t) = o.temperature {
        obj.insert("temperature".into(), t.into());
    }
}

fn converse(obj: &mut Map<String, Value>, o: &PayloadOptions) {
    if let (Some(image), Some(user)) = (&o.image, last_user(obj)) {
        if let Some(Value::Array(blocks)) = user.get_mut("content") {
            blocks.push(json!({"image": {"format": image.format(), "source": {"bytes": image.base64}}}));
        }
    }
    if let Some(system) = &o.system {
        obj.insert("system".into(), json!([{"text": system}]));
    }
    if let Some(t) = o.temperature {
        let config = obj.entry("inferenceConfig").or_insert_with(|| json!({}));
        config["temperature"] = t.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{anthropic, openai_chat, openai_responses};

    #[test]
    fn a_conversation_goes_before_the_turn_in_each_shape() {
        let history = [
            Exchange {
                user: "first question".into(),
                assistant: "first answer".into(),
            },
            Exchange {
                user: "second".into(),
                assistant: "reply".into(),
            },
        ];
        let mut chat = openai_chat::create_payload("third", 5);
        apply(
            &mut chat,
            Shape::Chat,
            &PayloadOptions {
                system: Some("sys".into()),
                ..Default::default()
            },
        )
        .unwrap();
        with_history(&mut chat, Shape::Chat, &history).unwrap();
        let roles: Vec<&str> = chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["system", "user", "assistant", "user", "assistant", "user"]
        );
        assert_eq!(chat["messages"][2]["content"], "first answer");
        assert_eq!(last_user_text(&chat, Shape::Chat).as_deref(), Some("third"));
        assert_eq!(
            openai_chat::prompt_text(&chat).as_deref(),
            Some("sys\nfirst question\nfirst answer\nsecond\nreply\nthird")
        );

        let mut responses = openai_responses::create_payload("third", 5);
        assert_eq!(
            last_user_text(&responses, Shape::Responses).as_deref(),
            Some("third")
        );
        with_history(&mut responses, Shape::Responses, &history).unwrap();
        assert_eq!(responses["input"].as_array().unwrap().len(), 5);
        assert_eq!(
            responses["input"][1],
            json!({"role": "assistant", "content": "first answer"})
        );
        assert_eq!(responses["input"][4], json!({"role": "user", "content": "third"}));

        let mut messages = anthropic::create_payload("third", 5);
        with_history(&mut messages, Shape::Anthropic, &history[..1]).unwrap();
        assert_eq!(messages["messages"].as_array().unwrap().len(), 3);
        assert_eq!(messages["messages"][0]["content"], "first question");

        let mut converse = json!({"messages": [{"role": "user", "content": [{"text": "third"}]}]});
        with_history(&mut converse, Shape::Converse, &history[..1]).unwrap();
        assert_eq!(
            converse["messages"][1],
            json!({"role": "assistant", "content": [{"text": "first answer"}]})
        );
        assert_eq!(
            last_user_text(&converse, Shape::Converse).as_deref(),
            Some("third")
        );

        let err = with_history(&mut json!({"prompt": "x"}), Shape::Chat, &history).unwrap_err();
        assert!(err.to_string().contains("no messages list"), "{err}");
    }

    fn options() -> PayloadOptions {
        PayloadOptions {
            system: Some("be brief".into()),
            temperature: Some(0.2),
            image: Some(Image {
                media_type: "image/png".into(),
                base64: "iVBORw0KGgo=".into(),
            }),
        }
    }

    #[test]
    fn each_shape_gets_its_own_system_temperature_and_image_fields() {
        let mut chat = openai_chat::create_payload("hi", 5);
        apply(&mut chat, Shape::Chat, &options()).unwrap();
        assert_eq!(
            chat["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            chat["messages"][1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,iVBORw0KGgo="
        );
        assert_eq!(chat["temperature"], 0.2);
        assert_eq!(openai_chat::prompt_text(&chat).as_deref(), Some("be brief\nhi"));

        let mut responses = openai_responses::create_payload("hi", 5);
        apply(&mut responses, Shape::Responses, &options()).unwrap();
        assert_eq!(responses["instructions"], "be brief");
        assert_eq!(responses["input"][0]["content"][1]["type"], "input_image");
        assert_eq!(
            openai_responses::prompt_text(&responses).as_deref(),
            Some("be brief\nhi")
        );

        let mut messages = anthropic::create_payload("hi", 5);
        apply(&mut messages, Shape::Anthropic, &options()).unwrap();
        assert_eq!(messages["system"], "be brief");
        assert_eq!(
            messages["messages"][0]["content"][0]["source"]["media_type"],
            "image/png"
        );
        assert_eq!(anthropic::prompt_text(&messages).as_deref(), Some("be brief\nhi"));

        let mut converse = crate::aws::converse::create_payload("hi", 5);
        apply(&mut converse, Shape::Converse, &options()).unwrap();
        assert_eq!(converse["system"], json!([{"text": "be brief"}]));
        assert_eq!(
            converse["inferenceConfig"],
            json!({"maxTokens": 5, "temperature": 0.2})
        );
        assert_eq!(converse["messages"][0]["content"][1]["image"]["format"], "png");
    }

    #[test]
    fn no_options_change_nothing() {
        let base = openai_chat::create_payload("hi", 5);
        let mut same = base.clone();
        apply(&mut same, Shape::Chat, &PayloadOptions::default()).unwrap();
        assert_eq!(same, base);
        assert!(PayloadOptions::default().is_empty());
    }
}
