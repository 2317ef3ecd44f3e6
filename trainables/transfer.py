"""Transfer-learning model builders (ImageNet backbones): see issue 4. Empty until they land."""

BUILDERS: dict = {}
