/** `{name}` placeholders in naming templates, e.g. `{telescope}/{night}/{file}`. */

const placeholder = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function placeholdersOf(template: string): string[] {
  return [...template.matchAll(placeholder)].map((m) => m[1]!);
}

/** Problems with a template itself: placeholders nobody fills and braces that open no placeholder. */
export function templateProblems(template: string, known: ReadonlySet<string>, option: string): string[] {
  const problems: string[] = [];
  for (const name of placeholdersOf(template)) {
    if (!known.has(name)) {
      problems.push(`${option} "${template}" uses {${name}}, which is neither a builtin nor a --path-pattern group`);
    }
  }
  if (/[{}]/.test(template.replace(placeholder, ''))) {
    problems.push(`${option} "${template}" has a { or } that is not part of a {name} placeholder`);
  }
  return problems;
}

/** Fill the placeholders; returns the name of the first placeholder without a value instead. */
export function renderTemplate(
  template: string,
  values: Readonly<Record<string, string | undefined>>,
): { text: string } | { missing: string } {
  for (const name of placeholdersOf(template)) {
    if (values[name] === undefined) return { missing: name };
  }
  return { text: template.replace(placeholder, (_, name: string) => values[name]!) };
}
