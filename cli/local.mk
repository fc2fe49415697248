# libwinnow/cli: rules come with the component.
