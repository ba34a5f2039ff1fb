// Field errors in plain words: the API's `fields` carry pydantic's validator text
// ("String should have at least 1 character"); a person reads "Can’t be empty.".

/** The API's length limits (proto/bots.py, proto/commands.py, proto/workspaces.py, auth-service's token names). */
export const LIMITS = {
  botName: 100,
  botDescription: 1000,
  activityText: 128,
  promptName: 100,
  promptModel: 200,
  connectionName: 100,
  baseUrl: 2048,
  tokenName: 64,
  commandName: 32,
  commandDescription: 100,
  commandTemplate: 4000,
  workspaceName: 100,
  roleName: 50,
  prefix: 5,
} as const;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function sentence(s: string): string {
  const t = s.trim();
  if (!t) return t;
  const up = t[0].toUpperCase() + t.slice(1);
  return /[.!?…)]$/.test(up) ? up : `${up}.`;
}

const RULES: Array<[RegExp, (m: RegExpMatchArray) => string]> = [
  [/^String should have at least 1 character/i, () => 'Can’t be empty.'],
  [/^String should have at least (\d+) characters?/i, (m) => `Too short: use at least ${plural(Number(m[1]), 'character')}.`],
  [/^String should have at most (\d+) characters?/i, (m) => `Too long: use at most ${plural(Number(m[1]), 'character')}.`],
  [/^Field required$/i, () => 'Required.'],
  [/^Input should be a valid integer/i, () => 'Enter a whole number.'],
  [/^Input should be a valid number/i, () => 'Enter a number.'],
  [/^Input should be greater than or equal to (-?[\d.]+)/i, (m) => `Use ${m[1]} or more.`],
  [/^Input should be greater than (-?[\d.]+)/i, (m) => `Use more than ${m[1]}.`],
  [/^Input should be less than or equal to (-?[\d.]+)/i, (m) => `Use ${m[1]} or less.`],
  [/^Input should be less than (-?[\d.]+)/i, (m) => `Use less than ${m[1]}.`],
  [/^Input should be a valid URL/i, () => 'Enter a full web address, like https://api.example.com.'],
  [/^URL scheme should be/i, () => 'Enter a web address starting with http:// or https://.'],
  [/^Input should be a valid (string|boolean|list|dictionary|object)/i, () => 'This value has the wrong type.'],
  [/^Input should be (('[^']*'(, | or )?)+)$/i, (m) => `Choose one of: ${m[1].replace(/'/g, '').replace(/ or /g, ', ')}.`],
  // The invitation's e-mail rule (proto/workspaces.py): name what is expected.
  [/^String should match pattern '\^\[\^@\\s\]\+@/i, () => 'Enter an e-mail address, like ada@example.com.'],
  [/^String should match pattern/i, () => 'Contains characters that are not allowed here.'],
  [/^List should have at least 1 item/i, () => 'Choose at least one.'],
  [/^List should have at most (\d+) items?/i, (m) => `Choose at most ${m[1]}.`],
  [/^Extra inputs are not permitted/i, () => 'Not accepted here.'],
  [/^(\d+) to (\d+) characters$/i, (m) => `Use ${m[1]} to ${m[2]} characters.`],
  // The connection's URL rule (proto/commands.py): say what to type.
  [/^must be an http:\/\/ or https:\/\/ URL with a host/i, () => 'Enter a full web address starting with http:// or https://, like https://api.example.com.'],
];

/** One server field message in plain words (never raw validator text). */
export function plainFieldMessage(raw: string): string {
  const msg = raw.replace(/^Value error, /, '').replace(/^Assertion failed, /, '').trim();
  for (const [re, say] of RULES) {
    const m = msg.match(re);
    if (m) return say(m);
  }
  return sentence(msg || 'invalid value');
}

/** A length counter's words: "12 / 100", and past the limit how many to remove. */
/** The count, and past the limit by how much (shown apart: a field error may say it already). */
export function counterParts(length: number, max: number): { count: string; over?: string } {
  const count = `${length} / ${max}`;
  return length > max ? { count, over: `${plural(length - max, 'character')} too many` } : { count };
}


/** A length checked before sending: the same words the server's refusal maps to. */
export function lengthError(value: string, max: number, { required = false } = {}): string | undefined {
  const n = value.trim().length;
  if (required && n === 0) return 'Can’t be empty.';
  if (n > max) return `Too long: use at most ${plural(max, 'character')}.`;
  return undefined;
}
