"""Local stand-ins for the AWS services the pipeline uses: the Personalize emulator, the runner, the demo."""
