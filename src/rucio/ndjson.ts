/** Split a byte stream into lines without buffering the whole body (Rucio lists can be millions of rows). */
export async function* ndjsonLines(body: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let rest = '';
  // Streaming decode: a multi-byte character split across two chunks is joined before it is read.
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    // Walk the text with an index: slicing the remainder after every line would copy it once per line.
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      const line = text.slice(start, nl).trim();
      start = nl + 1;
      if (line) yield line;
    }
    rest = text.slice(start);
  }
  rest += decoder.decode();
  if (rest.trim()) yield rest.trim();
}
