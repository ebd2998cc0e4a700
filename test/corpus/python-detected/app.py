import json


def lambda_handler(event, context):
    params = event.get("queryStringParameters") or {}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": "hello " + params.get("who", "world"), "path": event.get("rawPath")}),
    }
