import sharp from 'sharp';

// Resizes the PNG or JPEG in the request body to ?width= pixels wide, keeping its aspect ratio.
export const handler = async (event) => {
  const input = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  const width = Number(event.queryStringParameters?.width ?? 100);
  const meta = await sharp(input).metadata();
  const { info } = await sharp(input).resize({ width }).png().toBuffer({ resolveWithObject: true });
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      input: { width: meta.width, height: meta.height },
      output: { width: info.width, height: info.height, format: info.format },
    }),
  };
};
