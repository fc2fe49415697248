# bench: rules come with the component.
