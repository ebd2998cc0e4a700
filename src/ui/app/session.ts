// The signed-in key, kept in this tab's sessionStorage: it survives a reload, ends with the tab, is never
// sent by the browser on its own (no cookie), and no other origin or tab can read it (docs/ui.md).
const STORAGE_KEY = 'nimbus.key';

export function storedKey(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeKey(key: string): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Storage refused (private mode quotas): the key lasts as long as the page.
  }
}

export function forgetKey(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}
