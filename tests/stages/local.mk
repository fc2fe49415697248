# tests/stages: rules come with the component.
