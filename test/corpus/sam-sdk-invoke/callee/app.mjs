// Prices a list of items; called with a raw event through Lambda's Invoke.
const PRICES = { apple: 30, pear: 45 };

export const handler = async (event, context) => {
  const total = (event.items ?? []).reduce((sum, item) => sum + (PRICES[item] ?? 0), 0);
  return { total, currency: 'EUR', pricedBy: context.functionName };
};
