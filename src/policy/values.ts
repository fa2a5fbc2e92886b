/** Shared value rules of the batch policy: metadata values and `SCOPE:NAME` references. */

export type MetaValue = string | number | boolean;
export interface Did {
  scope: string;
  name: string;
}

export const scopePattern = /^[A-Za-z0-9_.-]{1,25}$/;
export const maxDidNameLength = 250;

/**
 * A value taken from a path: a number only when it reads back identically (`42`, `1.5`), so run numbers
 * such as `05039477` keep their leading zeros and stay strings.
 */
export function valueFromPath(text: string): MetaValue {
  return text !== '' && String(Number(text)) === text ? Number(text) : text;
}

// A plain decimal number: no leading zeros ('007' stays a string), no hex, no surrounding spaces.
const decimalNumber = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** A metadata value typed like `--meta`: true/false → boolean, decimal numbers → number, else string. */
export function typedValue(text: string): MetaValue {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (decimalNumber.test(text) && Number.isFinite(Number(text))) return Number(text);
  return text;
}

/** `SCOPE:NAME` → a DID, or a sentence saying what is wrong with it. */
export function parseDidReference(text: string): Did | string {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) return `"${text}" is not SCOPE:NAME`;
  const scope = text.slice(0, i);
  if (!scopePattern.test(scope)) return `"${text}": scope "${scope}" is not 1-25 letters, digits, _ . -`;
  return { scope, name: text.slice(i + 1) };
}
