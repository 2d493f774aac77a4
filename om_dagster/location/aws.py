"""The AWS credentials resource, on dagster-aws.

Kept apart: importing dagster-aws costs about 2.4 s, so the code location loads it only
when a recipe's steps use AWS (`Step.uses_aws`).
"""

from typing import Any

from dagster_aws.utils import ResourceWithBoto3Configuration


class AwsCredentials(ResourceWithBoto3Configuration):
    """Cloud credentials for AWS sources (dagster-aws's boto3 settings).

    A recipe's `awsConfig` wins field by field; what it leaves out comes from here, and
    what neither sets is left to boto3's default chain (environment, profile, role). Set
    keys with `EnvVar` so they show in the UI as variable names only.
    """

    def defaults(self) -> dict[str, Any]:
        """These settings under `awsConfig`'s names, for what a recipe leaves out."""
        ours = {
            "awsAccessKeyId": self.aws_access_key_id,
            "awsSecretAccessKey": self.aws_secret_access_key,
            "awsSessionToken": self.aws_session_token,
            "awsRegion": self.region_name,
            "endPointURL": self.endpoint_url,
            "profileName": self.profile_name,
        }
        return {k: v for k, v in ours.items() if v is not None}
