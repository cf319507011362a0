"""Attribute names: the OpenTelemetry GenAI conventions and spanlink's own namespace.

The GenAI constants in ``opentelemetry-semantic-conventions`` are deprecated (the GenAI
conventions moved to their own repository) and some of its value enums warn on use, so
spanlink keeps its own names here, one per line, spelled exactly as the specification.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEPLOYMENT_ENVIRONMENT_NAME",
    "ERROR_TYPE",
    "GEN_AI_AGENT_DESCRIPTION",
    "GEN_AI_AGENT_ID",
    "GEN_AI_AGENT_NAME",
    "GEN_AI_AGENT_VERSION",
    "GEN_AI_CONVERSATION_ID",
    "GEN_AI_DATA_SOURCE_ID",
    "GEN_AI_EMBEDDINGS_DIMENSION_COUNT",
    "GEN_AI_EVALUATION_EXPLANATION",
    "GEN_AI_EVALUATION_NAME",
    "GEN_AI_EVALUATION_SCORE_LABEL",
    "GEN_AI_EVALUATION_SCORE_VALUE",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPENAI_REQUEST_RESPONSE_FORMAT",
    "GEN_AI_OPENAI_REQUEST_SEED",
    "GEN_AI_OPENAI_REQUEST_SERVICE_TIER",
    "GEN_AI_OPENAI_RESPONSE_SERVICE_TIER",
    "GEN_AI_OPENAI_RESPONSE_SYSTEM_FINGERPRINT",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_OUTPUT_TYPE",
    "GEN_AI_PROMPT_NAME",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_CHOICE_COUNT",
    "GEN_AI_REQUEST_ENCODING_FORMATS",
    "GEN_AI_REQUEST_FREQUENCY_PENALTY",
    "GEN_AI_REQUEST_MAX_TOKENS",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_PRESENCE_PENALTY",
    "GEN_AI_REQUEST_SEED",
    "GEN_AI_REQUEST_STOP_SEQUENCES",
    "GEN_AI_REQUEST_STREAM",
    "GEN_AI_REQUEST_TEMPERATURE",
    "GEN_AI_REQUEST_TOP_K",
    "GEN_AI_REQUEST_TOP_P",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK",
    "GEN_AI_RETRIEVAL_DOCUMENTS",
    "GEN_AI_RETRIEVAL_QUERY_TEXT",
    "GEN_AI_SYSTEM",
    "GEN_AI_SYSTEM_INSTRUCTIONS",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_TOOL_CALL_ARGUMENTS",
    "GEN_AI_TOOL_CALL_ID",
    "GEN_AI_TOOL_CALL_RESULT",
    "GEN_AI_TOOL_DEFINITIONS",
    "GEN_AI_TOOL_DESCRIPTION",
    "GEN_AI_TOOL_NAME",
    "GEN_AI_TOOL_TYPE",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_COMPLETION_TOKENS",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_USAGE_PROMPT_TOKENS",
    "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS",
    "GEN_AI_WORKFLOW_NAME",
    "KIND_CHAIN",
    "KIND_EVALUATION",
    "KIND_FUNCTION",
    "KIND_GUARDRAIL",
    "KIND_RERANK",
    "KIND_TRANSFORM",
    "MODEL_OPERATIONS",
    "OP_CHAT",
    "OP_CREATE_AGENT",
    "OP_EMBEDDINGS",
    "OP_EXECUTE_TOOL",
    "OP_GENERATE_CONTENT",
    "OP_INVOKE_AGENT",
    "OP_INVOKE_WORKFLOW",
    "OP_RETRIEVAL",
    "OP_TEXT_COMPLETION",
    "SERVICE_NAME",
    "SESSION_ID",
    "SPANLINK_ENVIRONMENT",
    "SPANLINK_INPUT",
    "SPANLINK_KIND",
    "SPANLINK_OUTPUT",
    "SPANLINK_OUTPUT_CHUNKS",
    "SPANLINK_PROJECT",
    "SPANLINK_SOURCE_CONVENTION",
    "SPANLINK_TEST_CASE_ID",
    "SPANLINK_TEST_CONFIGURATION_ID",
    "SPANLINK_TEST_NODE_ID",
    "SPANLINK_TEST_OUTCOME",
    "SPANLINK_TEST_PHASE",
    "SPANLINK_TEST_RESULT_ID",
    "SPANLINK_TEST_RUN_ID",
    "TEST_CONTEXT_ATTRIBUTES",
    "USER_ID",
]

# --- OpenTelemetry GenAI attributes -------------------------------------------------
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_VERSION: Final = "gen_ai.agent.version"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OPENAI_REQUEST_RESPONSE_FORMAT: Final = "gen_ai.openai.request.response_format"
GEN_AI_OPENAI_REQUEST_SEED: Final = "gen_ai.openai.request.seed"
GEN_AI_OPENAI_REQUEST_SERVICE_TIER: Final = "gen_ai.openai.request.service_tier"
GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: Final = "gen_ai.openai.response.service_tier"
GEN_AI_OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "gen_ai.openai.response.system_fingerprint"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
# --- General OpenTelemetry attributes spanlink sets ---------------------------------
ERROR_TYPE: Final = "error.type"
SERVICE_NAME: Final = "service.name"
DEPLOYMENT_ENVIRONMENT_NAME: Final = "deployment.environment.name"
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"

# --- gen_ai.operation.name values ---------------------------------------------------
OP_CHAT: Final = "chat"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_RETRIEVAL: Final = "retrieval"
OP_CREATE_AGENT: Final = "create_agent"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"

#: Operations whose spans are calls to a model (cost and token accounting apply).
MODEL_OPERATIONS: Final = frozenset(
    {OP_CHAT, OP_GENERATE_CONTENT, OP_TEXT_COMPLETION, OP_EMBEDDINGS}
)

# --- spanlink's own namespace -------------------------------------------------------
SPANLINK_TEST_RUN_ID: Final = "spanlink.test.run_id"
SPANLINK_TEST_CASE_ID: Final = "spanlink.test.case_id"
SPANLINK_TEST_RESULT_ID: Final = "spanlink.test.result_id"
SPANLINK_TEST_CONFIGURATION_ID: Final = "spanlink.test.configuration_id"
SPANLINK_TEST_PHASE: Final = "spanlink.test.phase"
"""The test phase a span was started in (pytest: ``setup``, ``call`` or ``teardown``)."""
SPANLINK_TEST_NODE_ID: Final = "spanlink.test.node_id"
"""The pytest node id, on a test's root span."""
SPANLINK_TEST_OUTCOME: Final = "spanlink.test.outcome"
"""A test's outcome (``passed``, ``failed``, ...), on its root span."""
SPANLINK_KIND: Final = "spanlink.kind"
SPANLINK_INPUT: Final = "spanlink.input"
SPANLINK_OUTPUT: Final = "spanlink.output"
SPANLINK_OUTPUT_CHUNKS: Final = "spanlink.output.chunks"
SPANLINK_PROJECT: Final = "spanlink.project"
SPANLINK_ENVIRONMENT: Final = "spanlink.environment"
SPANLINK_SOURCE_CONVENTION: Final = "spanlink.source_convention"

#: Test-context attributes, in the order they are stamped.
TEST_CONTEXT_ATTRIBUTES: Final = (
    SPANLINK_TEST_RUN_ID,
    SPANLINK_TEST_CASE_ID,
    SPANLINK_TEST_RESULT_ID,
    SPANLINK_TEST_CONFIGURATION_ID,
)

# --- spanlink.kind values (kinds the GenAI spec has no operation for) ---------------
KIND_FUNCTION: Final = "function"
KIND_GUARDRAIL: Final = "guardrail"
KIND_EVALUATION: Final = "evaluation"
KIND_RERANK: Final = "rerank"
KIND_TRANSFORM: Final = "transform"
KIND_CHAIN: Final = "chain"
