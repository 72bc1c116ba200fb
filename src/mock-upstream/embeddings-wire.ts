/**
 * OpenAI Embeddings wire format. Vectors are small (8 floats unless `dimensions` asks
 * otherwise), unit length and a pure function of the input text, so tests can compare them.
 * `encoding_format: "base64"` (what the official SDKs request by default) is honoured with
 * little-endian float32, as the real API does.
 * Usage: prompt_tokens = max(1, ceil(characters of all string inputs / 4) + length of token-array inputs).
 */
import { isRecord, type RequestProblem } from './chat-wire.ts';
import { createSeededRandom } from './fault-plan.ts';

export const defaultEmbeddingDimensions = 8;
const maximumDimensions = 4096;

export interface EmbeddingsReading {
  model: string;
  /** One key per input: the text, or the token ids joined by commas. */
  inputs: string[];
  promptTokens: number;
  dimensions: number;
  base64: boolean;
}

function isTokenArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((item) => Number.isInteger(item));
}

export function readEmbeddingsRequest(body: unknown): EmbeddingsReading | RequestProblem {
  if (!isRecord(body)) return { problem: 'The request body must be a JSON object.' };
  const model = body['model'];
  if (typeof model !== 'string' || model.length === 0) {
    return { problem: 'you must provide a model parameter', param: 'model' };
  }
  const input = body['input'];
  let items: unknown[];
  if (typeof input === 'string' || isTokenArray(input)) items = [input];
  else if (Array.isArray(input) && input.length > 0) items = input;
  else
    return {
      problem: "'input' is a required property and must be a non-empty string or array",
      param: 'input',
    };
  const inputs: string[] = [];
  let characters = 0;
  let arrayTokens = 0;
  for (const item of items) {
    if (typeof item === 'string') {
      characters += item.length;
      inputs.push(item);
    } else if (isTokenArray(item)) {
      arrayTokens += item.length;
      inputs.push(item.join(','));
    } else {
      return { problem: "Invalid 'input': expected strings or arrays of token ids.", param: 'input' };
    }
  }
  const encodingFormat = body['encoding_format'] ?? 'float';
  if (encodingFormat !== 'float' && encodingFormat !== 'base64') {
    return { problem: "Invalid 'encoding_format': expected 'float' or 'base64'.", param: 'encoding_format' };
  }
  const dimensions = body['dimensions'] ?? defaultEmbeddingDimensions;
  if (
    typeof dimensions !== 'number' ||
    !Number.isInteger(dimensions) ||
    dimensions < 1 ||
    dimensions > maximumDimensions
  ) {
    return {
      problem: `Invalid 'dimensions': expected an integer from 1 to ${maximumDimensions}.`,
      param: 'dimensions',
    };
  }
  const textTokens = characters > 0 ? Math.ceil(characters / 4) : 0;
  return {
    model,
    inputs,
    promptTokens: Math.max(1, textTokens + arrayTokens),
    dimensions,
    base64: encodingFormat === 'base64',
  };
}

/** FNV-1a over UTF-16 code units: a stable seed per input. */
function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A deterministic unit vector for `text`, rounded to float32 so float and base64 agree. */
export function embeddingVector(text: string, dimensions: number): Float32Array {
  const random = createSeededRandom(hashText(text));
  const vector = new Float32Array(dimensions);
  let squares = 0;
  for (let index = 0; index < dimensions; index++) {
    const value = random() * 2 - 1;
    vector[index] = value;
    squares += value * value;
  }
  const norm = Math.sqrt(squares) || 1;
  for (let index = 0; index < dimensions; index++) vector[index] = (vector[index] ?? 0) / norm;
  return vector;
}

function vectorLiteral(vector: Float32Array, base64: boolean): string {
  if (base64)
    return `"${Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64')}"`;
  return `[${vector.join(',')}]`;
}

export function embeddingsBody(reading: EmbeddingsReading): string {
  const data = reading.inputs
    .map(
      (input, index) =>
        `{"object":"embedding","index":${index},"embedding":${vectorLiteral(embeddingVector(input, reading.dimensions), reading.base64)}}`,
    )
    .join(',');
  return (
    `{"object":"list","data":[${data}],"model":${JSON.stringify(reading.model)},` +
    `"usage":{"prompt_tokens":${reading.promptTokens},"total_tokens":${reading.promptTokens}}}`
  );
}
