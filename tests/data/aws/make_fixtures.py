"""Writes the AWS event-stream fixtures in this folder and checks each with botocore, as boto3 would read it.

The frames are built here with `struct` and `zlib.crc32`, independently of the Rust encoder (aws-smithy-eventstream),
following the event-stream layout (prelude: total length, headers length, prelude CRC; headers; payload; message
CRC). Each file is then decoded with botocore's `EventStreamBuffer` and parsed against the bedrock-runtime /
sagemaker-runtime service models shipped with botocore, and the result is compared with what the fixture means to
say. It also writes `../sigv4/bedrock-converse-stream.json`: a ConverseStream request as botocore's own client
serialises and signs it, at a fixed time, with the AWS documentation's example key.

Run: python3 tests/data/aws/make_fixtures.py   (needs botocore; checked with 1.43.11)
"""

import base64
import datetime
import json
import os
import struct
import zlib
from unittest import mock

import botocore
import botocore.auth
import botocore.session
from botocore.eventstream import EventStreamBuffer
from botocore.parsers import EventStreamJSONParser

HERE = os.path.dirname(os.path.abspath(__file__))


def header(name, value):
    n = name.encode()
    v = value.encode()
    return struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v


def frame(headers, payload):
    hb = b"".join(header(k, v) for k, v in headers)
    total = 12 + len(hb) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + hb + payload
    return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def event(event_type, payload, content_type="application/json"):
    if not isinstance(payload, bytes):
        payload = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return frame([(":event-type", event_type), (":content-type", content_type), (":message-type", "event")], payload)


def exception(kind, payload):
    data = json.dumps(payload, separators=(",", ":")).encode()
    return frame([(":exception-type", kind), (":content-type", "application/json"), (":message-type", "exception")], data)


PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"  # Bedrock pads event payloads with a `p` field of letters


def converse_stream():
    return b"".join([
        event("messageStart", {"p": PAD[:12], "role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Thinking"}}, "p": PAD[:5]}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2lnbmF0dXJl"}}, "p": PAD[:9]}),
        event("contentBlockStop", {"contentBlockIndex": 0, "p": PAD[:20]}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hello"}, "p": PAD[:3]}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": ""}, "p": PAD[:7]}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": " wörld"}, "p": PAD[:11]}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": " 🙂"}, "p": PAD[:4]}),
        event("contentBlockStop", {"contentBlockIndex": 1, "p": PAD[:30]}),
        event("messageStop", {"p": PAD[:8], "stopReason": "end_turn"}),
        event("metadata", {
            "metrics": {"latencyMs": 321},
            "p": PAD[:6],
            "usage": {"cacheReadInputTokens": 2, "inputTokens": 9, "outputTokens": 4, "totalTokens": 13},
        }),
    ])


def converse_stream_throttled():
    return b"".join([
        event("messageStart", {"p": PAD[:12], "role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}, "p": PAD[:3]}),
        exception("throttlingException", {"message": "Too many tokens, please wait before trying again."}),
    ])


def anthropic_events():
    return [
        {"type": "message_start", "message": {
            "id": "msg_bdrk_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "model": "claude-3-5-haiku-20241022", "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 9, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " wörld"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " 🙂"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 4}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": 9, "outputTokenCount": 4, "invocationLatency": 456, "firstByteLatency": 123}},
    ]


def invoke_anthropic_stream():
    frames = []
    for i, ev in enumerate(anthropic_events()):
        data = base64.b64encode(json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode()).decode()
        frames.append(event("chunk", {"bytes": data, "p": PAD[: (i * 7) % 30]}))
    return b"".join(frames)


def tgi_lines():
    lines = []
    for i, text in enumerate(["Hello", " wörld", " 🙂"]):
        lines.append({"token": {"id": 100 + i, "text": text, "logprob": -0.25, "special": False},
                      "generated_text": None, "details": None})
    lines.append({"token": {"id": 2, "text": "</s>", "logprob": -0.01, "special": True},
                  "generated_text": "Hello wörld 🙂",
                  "details": {"finish_reason": "eos_token", "generated_tokens": 4, "seed": None}})
    return "".join("data:" + json.dumps(l, ensure_ascii=False, separators=(",", ":")) + "\n\n" for l in lines).encode()


def sagemaker_tgi_stream():
    raw = tgi_lines()
    # PayloadPart boundaries that cut a line, a `data:` prefix and a multi-byte character, as SageMaker may.
    emoji = raw.index("🙂".encode())
    cuts = [0, 3, 57, raw.index(" w".encode()) + 3, emoji + 2, emoji + 3, len(raw) - 40, len(raw)]
    parts = [raw[a:b] for a, b in zip(cuts, cuts[1:])]
    return b"".join(event("PayloadPart", p, "application/octet-stream") for p in parts), parts


def sagemaker_model_stream_error():
    raw = tgi_lines().split(b"\n\n")[0] + b"\n\n"
    return event("PayloadPart", raw, "application/octet-stream") + exception(
        "ModelStreamError", {"Message": "Your model stream failed.", "ErrorCode": "ModelStreamError"})


def boto3_view(service, operation, data):
    """What boto3 yields for a stream: the parsed events (or the error dict of an exception)."""
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).output_shape
    stream_shape = shape.members[shape.serialization["payload"]]
    parser = EventStreamJSONParser()
    buf = EventStreamBuffer()
    buf.add_data(data)
    out = []
    for message in buf:
        response = message.to_response_dict()
        if response["status_code"] != 200:
            out.append({"error": parser._do_error_parse(response, stream_shape)["Error"]})
        else:
            out.append(parser.parse(response, stream_shape))
    return out


def check(got, want, name):
    assert got == want, f"{name}:\n got {got!r}\nwant {want!r}"
    print(f"ok  {name}: boto3 reads {len(got)} events as intended")


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def signed_converse_stream():
    """A ConverseStream request as botocore's client builds and signs it (sent nowhere)."""
    session = botocore.session.get_session()
    client = session.create_client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com",
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token="FQoGZXIvYXdzEXAMPLESESSIONTOKEN")
    captured = {}

    def before_send(request, **_):
        captured["request"] = request
        raise RuntimeError("captured")  # stop before any network

    client.meta.events.register("before-send.bedrock-runtime.ConverseStream", before_send)
    when = datetime.datetime(2024, 6, 1, 12, 30, 45, tzinfo=datetime.timezone.utc)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        try:
            client.converse_stream(
                modelId="anthropic.claude-3-haiku-20240307-v1:0",
                messages=[{"role": "user", "content": [{"text": "Hello wörld"}]}],
                inferenceConfig={"maxTokens": 16})
        except RuntimeError:
            pass
    r = captured["request"]
    body = r.body if isinstance(r.body, bytes) else r.body.encode()
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in r.headers.items()}
    # Unsigned headers that vary by machine and run: made fixed, so the file is reproducible.
    assert "user-agent" not in headers["Authorization"] and "amz-sdk" not in headers["Authorization"]
    headers["User-Agent"] = f"Botocore/{botocore.__version__} (platform details removed)"
    headers["amz-sdk-invocation-id"] = "00000000-0000-4000-8000-000000000000"
    return {
        "provenance": f"botocore {botocore.__version__} client.converse_stream, captured at before-send",
        "time": "20240601T123045Z",
        "region": "us-east-1",
        "service": "bedrock",
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "session_token": "FQoGZXIvYXdzEXAMPLESESSIONTOKEN",
        "method": r.method,
        "url": r.url,
        "headers": headers,
        "body": body.decode(),
    }


def main():
    stream = converse_stream()
    write("converse_stream.bin", stream)
    view = boto3_view("bedrock-runtime", "ConverseStream", stream)
    check([list(e)[0] for e in view],
          ["messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "contentBlockDelta",
           "contentBlockDelta", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop",
           "metadata"], "converse_stream.bin")
    assert view[-1]["metadata"]["metrics"]["latencyMs"] == 321
    assert view[6]["contentBlockDelta"]["delta"]["text"] == " wörld"

    throttled = converse_stream_throttled()
    write("converse_stream_throttled.bin", throttled)
    view = boto3_view("bedrock-runtime", "ConverseStream", throttled)
    check(view[-1], {"error": {"Code": "throttlingException",
                               "Message": "Too many tokens, please wait before trying again."}},
          "converse_stream_throttled.bin")

    invoke = invoke_anthropic_stream()
    write("invoke_anthropic_stream.bin", invoke)
    view = boto3_view("bedrock-runtime", "InvokeModelWithResponseStream", invoke)
    check([json.loads(e["chunk"]["bytes"]) for e in view], anthropic_events(), "invoke_anthropic_stream.bin")

    sm, parts = sagemaker_tgi_stream()
    write("sagemaker_tgi_stream.bin", sm)
    view = boto3_view("sagemaker-runtime", "InvokeEndpointWithResponseStream", sm)
    check([e["PayloadPart"]["Bytes"] for e in view], parts, "sagemaker_tgi_stream.bin")
    assert b"".join(parts) == tgi_lines()

    failed = sagemaker_model_stream_error()
    write("sagemaker_model_stream_error.bin", failed)
    view = boto3_view("sagemaker-runtime", "InvokeEndpointWithResponseStream", failed)
    check(view[-1], {"error": {"Code": "ModelStreamError", "Message": "Your model stream failed."}},
          "sagemaker_model_stream_error.bin")

    signed = signed_converse_stream()
    with open(os.path.join(HERE, "..", "sigv4", "bedrock-converse-stream.json"), "w") as f:
        json.dump(signed, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("ok  sigv4/bedrock-converse-stream.json:", signed["headers"]["Authorization"][:60], "…")


if __name__ == "__main__":
    main()
