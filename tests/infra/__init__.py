"""Infrastructure tests: the typed configuration, the synthesized template, cdk-nag, cfn-lint and the CLI synth."""
