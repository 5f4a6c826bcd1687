/** A `first-last` number range from the configuration (validated there) as the portal takes it. */
export function rangeOf(text: string): { start: string; end: string } {
  const [start, end] = text.split('-') as [string, string];
  return { start, end };
}
