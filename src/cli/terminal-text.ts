// Text a function wrote, made safe to print on an operator's terminal: control characters shown, not obeyed.

/**
 * What a terminal would act on rather than print: C0 controls but tab and newline (a carriage return prints over the
 * line's prefix; ESC starts colours, titles, clipboard writes, screen clears), DEL, C1 controls (U+009B is
 * an 8-bit CSI), and the bidi overrides and isolates that reorder what is shown.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with each control character written as an escape (`\x1b`, `\r`, `\u202e`), newlines kept. */
export function terminalText(text: string): string {
  return text.replace(TERMINAL_CONTROL, escapeControl);
}

function escapeControl(char: string): string {
  const code = char.charCodeAt(0);
  if (code === 0x0d) return '\\r';
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}
