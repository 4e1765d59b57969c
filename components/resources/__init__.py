"""Pulumi ComponentResources and the container specs they declare: the stack's services,
each project, its auth. They build on core and providers.
"""
