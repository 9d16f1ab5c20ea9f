"""Creates an IAM user allowed to call ecr:GetAuthorizationToken on a moto server, and prints
its access key pair as JSON. Run before moto starts enforcing auth (INITIAL_NO_AUTH_ACTION_COUNT).

usage: moto_iam.py ENDPOINT USER                      create USER, print its key pair
       moto_iam.py ENDPOINT USER delete KEY_ID SECRET  USER deletes its own key (it may)
"""
import json
import sys

import boto3

endpoint, user = sys.argv[1], sys.argv[2]

def client(key_id, secret):
    return boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


if len(sys.argv) > 3 and sys.argv[3] == "delete":
    client(sys.argv[4], sys.argv[5]).delete_access_key(UserName=user, AccessKeyId=sys.argv[4])
    sys.exit(0)
iam = client("bootstrap", "bootstrap")
iam.create_user(UserName=user)
iam.put_user_policy(
    UserName=user,
    PolicyName="pull",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ecr:GetAuthorizationToken", "iam:DeleteAccessKey"],
                    "Resource": "*",
                }
            ],
        }
    ),
)
key = iam.create_access_key(UserName=user)["AccessKey"]
print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
