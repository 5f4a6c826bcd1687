/**
 * Reading CSV (RFC 4180) one line at a time, as `tidewater subscriber import` needs it: fields
 * separated by commas; a field that starts with a double quote is quoted, may hold commas, and
 * writes a double quote as two (`"pa,ss""word"`). A record is one line: a quoted field may not
 * hold a line break. Any other field is taken exactly as written, spaces included.
 */

/** The fields of one line, or why it is not a CSV record. */
export type CsvLine = { readonly ok: true; readonly fields: string[] } | { readonly ok: false; readonly reason: string };

/** Splits one line (without its line break) into fields. */
export function parseCsvLine(line: string): CsvLine {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const close = line.indexOf('"', j);
        if (close < 0) return { ok: false, reason: `field ${fields.length + 1}: a quoted field does not end on its line (a field may not hold a line break)` };
        value += line.slice(j, close);
        if (line[close + 1] !== '"') {
          j = close + 1;
          break;
        }
        value += '"';
        j = close + 2;
      }
      fields.push(value);
      if (j === line.length) return { ok: true, fields };
      if (line[j] !== ',') return { ok: false, reason: `field ${fields.length}: text after the closing quote (write a quote inside a quoted field as "")` };
      i = j + 1;
    } else {
      const comma = line.indexOf(',', i);
      fields.push(comma < 0 ? line.slice(i) : line.slice(i, comma));
      if (comma < 0) return { ok: true, fields };
      i = comma + 1;
    }
  }
}
